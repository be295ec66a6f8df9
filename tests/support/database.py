"""Fixtures shared by every test: a real PostgreSQL and a freshly migrated database.

The server is the embedded PostgreSQL (its own data folder, .rls-iam-test/)
unless TEST_DATABASE_URL names another one. Each test session migrates a
database of its own with the same code path as `rls-iam db migrate`, and
drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.db.embedded import EmbeddedPostgres
from service.db.migrate import apply_policies, run_dbmate
from service.db.target import conninfo_to_url

REPO = Path(__file__).resolve().parents[2]
TEST_DATA_DIR = Path(os.environ.get("RLS_IAM_TEST_DATA_DIR", REPO / ".rls-iam-test"))


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture's value, not a test class

    name: str
    conninfo: str
    server_conninfo: str

    @property
    def url(self) -> str:
        return conninfo_to_url(self.conninfo)

    def server_major(self) -> int:
        with psycopg.connect(self.conninfo) as conn:
            return int(conn.info.server_version) // 10000


def _server_conninfo() -> str:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    server = EmbeddedPostgres(TEST_DATA_DIR)
    server.start()
    # Left running for the next session; `rls-iam db stop` (or .ci/run) stops it.
    return server.conninfo("postgres")


def with_dbname(conninfo: str, dbname: str) -> str:
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def create_database(server_conninfo: str, name: str) -> str:
    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return with_dbname(server_conninfo, name)


def drop_database(server_conninfo: str, name: str) -> None:
    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def migrate(conninfo: str) -> None:
    assert run_dbmate(conninfo_to_url(conninfo), "up") == 0, "dbmate up failed"
    apply_policies(conninfo)


@contextmanager
def migrated_database(server_conninfo: str, label: str) -> Iterator[str]:
    """A migrated database of its own, dropped afterwards: for tests that change its design."""
    name = f"rls_iam_test_{label}_{uuid.uuid4().hex[:8]}"
    conninfo = create_database(server_conninfo, name)
    try:
        migrate(conninfo)
        yield conninfo
    finally:
        drop_database(server_conninfo, name)


@pytest.fixture(scope="session")
def server_conninfo() -> str:
    return _server_conninfo()


@pytest.fixture(scope="session")
def database(server_conninfo: str) -> Iterator[TestDatabase]:
    """A migrated database for this test session (policies applied)."""
    name = f"rls_iam_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conninfo = create_database(server_conninfo, name)
    migrate(conninfo)
    yield TestDatabase(name=name, conninfo=conninfo, server_conninfo=server_conninfo)
    drop_database(server_conninfo, name)


@pytest.fixture
def conn(database: TestDatabase) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection as the migrating role, inside a transaction rolled back after the test."""
    with psycopg.connect(database.conninfo) as connection:
        yield connection
        connection.rollback()
