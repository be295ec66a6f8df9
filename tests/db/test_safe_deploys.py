"""`rls-iam db migrate` on a live database: no lock when nothing changes, bounded waits otherwise.

A reader keeps a transaction open on iam.projects (it holds ACCESS SHARE,
which conflicts with the ACCESS EXCLUSIVE that replacing a policy needs).
Meanwhile a no-op apply and a real one run, and a reader of another table
measures how long its query takes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from service.db import migrate
from service.db.migrate import (
    PolicyLockTimeout,
    applied_version,
    apply_policies,
    migrate_schema,
    rollback,
    run_dbmate,
)
from service.db.target import conninfo_to_url
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.slow


@pytest.fixture
def live(server_conninfo: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(migrate, "LOCK_TIMEOUT", "300ms")
    monkeypatch.setattr(migrate, "RETRY_PAUSE_SECONDS", 0.1)
    name = f"rls_iam_deploy_{uuid.uuid4().hex[:10]}"
    conninfo = create_database(server_conninfo, name)
    try:
        assert run_dbmate(conninfo_to_url(conninfo), "up") == 0
        apply_policies(conninfo)
        yield conninfo
    finally:
        drop_database(server_conninfo, name)


class Reader:
    """Reads iam.organizations over and over; records the slowest query."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.slowest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.is_set():
                started = time.monotonic()
                conn.execute("select count(*) from iam.organizations")
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.01)

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _hold_projects(conninfo: str) -> psycopg.Connection[tuple[object, ...]]:
    holder = psycopg.connect(conninfo)
    holder.execute("select count(*) from iam.projects")  # open transaction, ACCESS SHARE
    return holder


def test_a_run_with_nothing_to_change_waits_for_no_reader(live: str) -> None:
    holder = _hold_projects(live)
    try:
        with Reader(live) as reader:
            started = time.monotonic()
            assert apply_policies(live) == []
            took = time.monotonic() - started
    finally:
        holder.close()
    assert took < 5
    assert reader.slowest < 0.25, f"a reader of another table waited {reader.slowest:.2f}s"


def test_a_blocked_run_gives_up_naming_the_blocker(live: str) -> None:
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute(
            'drop policy "Admins can delete their organization\'s projects" on iam.projects'
        )
    holder = _hold_projects(live)
    pid = holder.info.backend_pid
    try:
        with Reader(live) as reader, pytest.raises(PolicyLockTimeout) as refused:
            apply_policies(live)
    finally:
        holder.close()
    message = str(refused.value)
    assert "iam.projects" in message and f"backend pid {pid}" in message, message
    assert reader.slowest < 0.25, f"a reader of another table waited {reader.slowest:.2f}s"
    # Once the reader is gone, the same run goes through and changes only that table.
    assert apply_policies(live) == ["projects"]


def test_a_real_change_is_applied_while_another_table_is_read(live: str) -> None:
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("grant select on iam.users to public")
    holder = _hold_projects(live)
    try:
        with Reader(live) as reader:
            assert apply_policies(live) == ["users"]
    finally:
        holder.close()
    assert reader.slowest < 0.5, f"a reader of another table waited {reader.slowest:.2f}s"


def test_a_migration_blocked_by_a_writer_gives_up_naming_it(
    live: str, capfd: pytest.CaptureFixture[str]
) -> None:
    url = conninfo_to_url(live)
    # Back to before the migration that adds a table referencing iam.users.
    while (applied_version(live) or "") >= "20261130100100":
        assert rollback(live, url) == 0
    writer = psycopg.connect(live)
    writer.execute("lock table iam.users in row exclusive mode")  # as an open UPDATE holds
    pid = writer.info.backend_pid
    try:
        started = time.monotonic()
        assert migrate_schema(live, url, "up") != 0
        took = time.monotonic() - started
    finally:
        writer.close()
    err = capfd.readouterr().err
    assert "iam.users" in err and f"backend pid {pid}" in err, err
    assert took < 10
    assert migrate_schema(live, url, "up") == 0
