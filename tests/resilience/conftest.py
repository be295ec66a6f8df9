"""The app under test for the resilience tests, reached directly or through a pooler.

TEST_API_DATABASE_URL routes the app, and only the app, through a connection
pooler such as PgBouncer in transaction mode: fixtures and migrations keep
using the session database directly. Its database name is replaced by the
session database's, so the pooler needs a wildcard `[databases] * = ...`
entry. TEST_DATABASE_POOLER is handed to the app as DATABASE_POOLER.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.http.app import create_app
from tests.support.api import api_database_url, make_settings
from tests.support.database import TestDatabase
from tests.support.processes import ApiServer, server_env
from tests.support.wire import RecordingRelay, recording_relay


@pytest.fixture(scope="session")
def api_server(database: TestDatabase) -> Iterator[ApiServer]:
    """`rls-iam serve --workers 2` on the session database: races cross processes too.

    The races test outcomes, not latency (the fault tests bound that): a
    generous pool timeout and deadline keep a burst of 50 requests from
    turning into 503s on a small machine, or behind a pooler with one server
    connection.
    """
    env = server_env(
        api_database_url(database),
        DATABASE_POOL_TIMEOUT_SECONDS="15",
        DATABASE_DEADLINE_SECONDS="15",
    )
    server = ApiServer(env=env, workers=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(api_server: ApiServer) -> Iterator[httpx.Client]:
    # The load comes from this process and the app runs in others, as in production.
    # keepalive_expiry below uvicorn's 5 s: no request races a server-side close.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
    with httpx.Client(base_url=api_server.base_url, timeout=30, limits=limits) as client:
        yield client


@pytest.fixture
def relay(database: TestDatabase) -> Iterator[RecordingRelay]:
    """A relay to the session database (tests/support/wire.py), through no pooler."""
    params = conninfo_to_dict(database.conninfo)
    with recording_relay(
        str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    ) as relay:
        yield relay


def relayed_conninfo(database: TestDatabase, relay: RecordingRelay) -> str:
    """The session database's conninfo, through the relay."""
    params = conninfo_to_dict(database.conninfo)
    params.update(host="127.0.0.1", port=str(relay.port))
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


@pytest.fixture
def relayed_client(database: TestDatabase, relay: RecordingRelay) -> Iterator[TestClient]:
    settings = make_settings(
        database,
        database_url=relayed_conninfo(database, relay),
        database_pooler="transaction",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client
