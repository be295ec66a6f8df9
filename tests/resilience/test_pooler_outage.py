"""The database goes away behind PgBouncer, and comes back.

The API reaches PostgreSQL through a PgBouncer of this test's own (transaction
mode) with a PostgreSQL of its own, so stopping it disturbs nothing else.
While the database is down every request answers 503 within 2 s; once it is
back, requests succeed again within 5 s. Runs in the PgBouncer pass of CI
(.ci/checks/40-pgbouncer.sh), or wherever TEST_API_DATABASE_URL names a
pooler and `pgbouncer` is installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from service.db.embedded import free_port
from tests.resilience.test_faults import (
    CLIENT_TIMEOUT,
    FAST,
    PROBLEM_JSON,
    RECOVERY_BOUND,
    Sample,
    first_ok,
    load,
)
from tests.support.api import register
from tests.support.database import migrate
from tests.support.processes import ApiServer, ThrowawayPostgres, server_env

DATABASE = "rls_iam"
PGBOUNCER = shutil.which("pgbouncer")

pytestmark = [
    pytest.mark.processes,
    pytest.mark.slow,
    pytest.mark.skipif(
        PGBOUNCER is None or not os.environ.get("TEST_API_DATABASE_URL"),
        reason="the PgBouncer pass runs it (pgbouncer installed, TEST_API_DATABASE_URL set)",
    ),
]


@dataclass
class ThrowawayPgBouncer:
    """PgBouncer in transaction mode in front of one PostgreSQL, in the foreground."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, postgres: ThrowawayPostgres) -> ThrowawayPgBouncer:
        root = postgres.root / "pgbouncer"
        root.mkdir()
        bouncer = cls(root=root, port=free_port())
        # server_login_retry: how soon PgBouncer tries the database again
        # after a failed login (15 s by default); it bounds the recovery.
        (root / "pgbouncer.ini").write_text(
            f"""[databases]
* = host=127.0.0.1 port={postgres.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {bouncer.port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
pool_mode = transaction
default_pool_size = 5
max_client_conn = 100
server_login_retry = 1
server_connect_timeout = 1
query_wait_timeout = 30
ignore_startup_parameters = extra_float_digits,options
logfile = {root}/pgbouncer.log
"""
        )
        (root / "userlist.txt").write_text('"postgres" ""\n')
        account = pwd.getpwnam(postgres.run_as) if os.geteuid() == 0 and postgres.run_as else None
        if account is not None:
            for path in (root, *root.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        bouncer.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [str(PGBOUNCER), str(root / "pgbouncer.ini")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(bouncer.conninfo(), connect_timeout=2) as conn:
                    conn.execute("select 1")
                return bouncer
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    bouncer.stop()
                    raise
                time.sleep(0.1)

    def conninfo(self, dbname: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} sslmode=disable"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres.create()
    try:
        server.start()
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        migrate(server.conninfo(DATABASE))
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    bouncer = ThrowawayPgBouncer.start(postgres)
    env = server_env(
        bouncer.conninfo(),
        DATABASE_POOLER="transaction",
        DATABASE_POOL_TIMEOUT_SECONDS="1",
        DATABASE_CONNECT_TIMEOUT_SECONDS="1",
    )
    server = ApiServer(env=env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        bouncer.stop()


def test_database_outage_behind_pgbouncer_answers_503_fast_and_recovers(
    postgres: ThrowawayPostgres, api: ApiServer
) -> None:
    with httpx.Client(base_url=api.base_url, timeout=CLIENT_TIMEOUT) as http:
        admin = register(http, "pooler-outage")
    samples: list[Sample] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=load, args=(api, admin.token, samples, stop), daemon=True)
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    postgres.stop("immediate")
    down_at = time.monotonic()
    try:
        time.sleep(3.0)
    finally:
        restart_at = time.monotonic()
        postgres.start()
    up_at = time.monotonic()
    recovered_at = first_ok(api, admin.token, within=20)
    time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join(timeout=CLIENT_TIMEOUT + 5)

    recovery = None if recovered_at is None else recovered_at - up_at
    during = [
        s for s in samples if down_at + 0.1 < s.started and s.started + s.elapsed < restart_at
    ]
    slowest = max(s.elapsed for s in samples)
    print(
        f"\n[pooler outage] {len(samples)} requests, {len(during)} during the outage,"
        f" slowest {slowest:.3f} s, statuses {sorted({s.status for s in samples})};"
        f" recovered {recovery if recovery is None else round(recovery, 3)} s after the database"
    )
    assert not any(worker.is_alive() for worker in workers), "a client hung"
    assert len(during) >= len(workers)
    for sample in during:
        assert sample.status == 503, sample
        assert sample.content_type.startswith(PROBLEM_JSON), sample
    assert slowest < FAST, max(samples, key=lambda s: s.elapsed)
    assert {s.status for s in samples} <= {200, 503}, api.log_lines("unexpected error")
    assert recovery is not None and recovery < RECOVERY_BOUND
