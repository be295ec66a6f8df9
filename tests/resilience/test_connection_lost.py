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

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.db.connection import Connection
from service.http.errors import database_problem
from tests.support.api import register
from tests.support.database import TestDatabase
from tests.support.wire import RecordingRelay

PROBLEM_JSON = "application/problem+json"


@pytest.mark.parametrize("cut_at", ["B", "S"])
def test_a_connection_lost_while_results_are_awaited_is_503(
    relayed_client: TestClient, relay: RecordingRelay, cut_at: str
) -> None:
    client = relayed_client
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
    # The server never saw the statements: nothing was stored.
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
    params = conninfo_to_dict(database.conninfo)
    params.update(host="127.0.0.1", port=str(relay.port))
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    error = asyncio.run(_lost_between_statements_and_sync(conninfo, relay))
    problem = database_problem(error)
    assert (problem.status, problem.kind.slug) == (503, "unavailable"), repr(error)
