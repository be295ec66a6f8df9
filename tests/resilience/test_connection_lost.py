"""A database connection lost mid-request is a 503, and the next request works.

When PostgreSQL stops behind PgBouncer, the pooler closes its clients'
connections, sometimes after a request has sent its statements and before
their results come back. The relay (tests/support/wire.py) drops a
connection at a chosen message, so these checks do not depend on timing:
over HTTP, a request cut at its first statement or at its Sync answers 503,
stores nothing, and the pool's next connection works. When the connection
goes between a pipeline's statements and its Sync, libpq reports the loss as
a result of its own, with no SQLSTATE: neither an OperationalError nor a
server's error, and still a 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.db.connection import Connection
from service.http.app import create_app
from service.http.errors import database_problem
from tests.resilience.conftest import relayed_conninfo
from tests.support.api import make_settings, register
from tests.support.database import TestDatabase
from tests.support.wire import RecordingRelay

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def one_connection_client(database: TestDatabase, relay: RecordingRelay) -> Iterator[TestClient]:
    """The app with a pool of one connection: the cut always takes the request's own.

    With a larger pool, a connection the pool opens in the background could
    send the message the relay waits for, and the request would not be cut.
    """
    settings = make_settings(
        database,
        database_url=relayed_conninfo(database, relay),
        database_pooler="transaction",
        database_pool_min_size=1,
        database_pool_max_size=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("cut_at", ["B", "S"])
def test_a_connection_lost_while_results_are_awaited_is_503(
    one_connection_client: TestClient, relay: RecordingRelay, cut_at: str
) -> None:
    client = one_connection_client
    actor = register(client, "cut")
    for path in ("/projects", "/auth/me", "/members"):
        relay.cut_at_next(cut_at)
        cut = client.get(path, headers=actor.headers)
        assert cut.status_code == 503, (path, cut.text)
        assert cut.headers["content-type"].startswith(PROBLEM_JSON)
        assert cut.json()["type"] == "/problems/unavailable"
        # The pool drops the broken connection and opens a new one.
        assert client.get(path, headers=actor.headers).status_code == 200

    relay.cut_at_next(cut_at)
    created = client.post("/projects", json={"name": "cut"}, headers=actor.headers)
    assert created.status_code == 503, created.text
    # Cut before its Sync reached the server: the transaction never committed.
    names = [p["name"] for p in client.get("/projects", headers=actor.headers).json()["items"]]
    assert "cut" not in names


async def _lost_between_statements_and_sync(conninfo: str, relay: RecordingRelay) -> psycopg.Error:
    conn = await Connection.connect(conninfo, autocommit=True)
    try:
        async with conn.transaction(), conn.pipeline():
            await conn.execute("select set_config('rls_iam.cut', 'yes', true)")
            await conn.execute("select 1")
            relay.cut_now()
    except psycopg.Error as error:
        return error
    finally:
        await conn.close()
    raise AssertionError("the transaction ended well on a dropped connection")


def test_a_pipeline_that_loses_its_connection_before_its_sync_is_503(
    database: TestDatabase, relay: RecordingRelay
) -> None:
    """libpq's own result for the loss carries no SQLSTATE: still unavailable, not a 500."""
    error = asyncio.run(_lost_between_statements_and_sync(relayed_conninfo(database, relay), relay))
    # The case this test is for: libpq's own result, raised while the
    # connection's loss unwinds.
    assert type(error) is psycopg.DatabaseError, repr(error)
    assert error.sqlstate is None and error.pgresult is not None, repr(error)
    assert isinstance(error.__context__, psycopg.OperationalError), repr(error.__context__)
    problem = database_problem(error)
    assert (problem.status, problem.kind.slug) == (503, "unavailable"), repr(error)
