"""What the app writes on the wire: every transaction ends on its Sync.

A transaction-mode pooler (PgBouncer, Supavisor) gives the server connection
back to its pool when the server reports ReadyForQuery outside a
transaction. A Flush written after the Sync can reach the pooler after that
ReadyForQuery: the pooler then ties a server connection to the Flush of an
idle client, and every other client waits (service/db/connection.py). The
relay records what the app's connections send, through no pooler, so the
check does not depend on timing.
"""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient

from tests.support.api import Actor, register
from tests.support.wire import RecordingRelay


def _flush_after_sync(types: list[str]) -> int:
    return sum(1 for before, after in itertools.pairwise(types) if (before, after) == ("S", "H"))


def test_no_request_writes_a_flush_after_its_sync(
    relayed_client: TestClient, relay: RecordingRelay
) -> None:
    client = relayed_client
    actor: Actor = register(client, "wire")
    for _ in range(20):
        assert client.get("/projects", headers=actor.headers).status_code == 200
        assert client.get("/auth/me", headers=actor.headers).status_code == 200
        created = client.post("/projects", json={"name": "wire"}, headers=actor.headers)
        assert created.status_code in (201, 409)
        missing = client.get(
            "/projects/00000000-0000-4000-8000-000000000000", headers=actor.headers
        )
        assert missing.status_code == 404

    sent = [types for types in (c.types for c in relay.connections) if types]
    syncs = sum(types.count("S") for types in sent)
    # The requests above went through the relay, pipelines included.
    assert syncs >= 80, sent
    assert [_flush_after_sync(types) for types in sent] == [0] * len(sent)
