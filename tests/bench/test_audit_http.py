"""The writes `python -m bench.audit_cost` sends through the API are real, audited writes.

The HTTP half of the audit-cost bench (bench/audit_http.py) puts the
triggers' cost against the API's whole write path. That figure means
something only if each request is a write the API accepts and each records
exactly one event, as the product's writes do; and the cleanup between
rounds must remove the bench's writes and nothing of the seed. The bodies
are expanded here as bench/lua/requests.lua expands them; the Lua itself
runs only under wrk, where the bench stops a run whose writes record fewer
events than requests (bench/audit_http.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from bench.audit_cost import remove_bench_writes
from bench.audit_http import events, workloads
from bench.http import Request, new_secret, token_service
from bench.plan import Plan
from service.http.app import create_app
from tests.support.bench_seed import app_settings, seeded_database

PLAN = Plan.at_scale(0.002)
EITHER = re.compile(r"\{either:([^|}]*)\|([^}]*)\}")
ACTIONS = {
    "project insert": "project.created",
    "project update": "project.updated",
    "member role change": "member.role_changed",
}


@pytest.fixture(scope="module")
def seeded(server_conninfo: str) -> Iterator[str]:
    with seeded_database(server_conninfo, "audit_http", PLAN) as conninfo:
        yield conninfo


def _body(request: Request, sent: int) -> str:
    """The body bench/lua/requests.lua sends as the line's sent-th request."""
    assert request.body is not None
    body = request.body.replace("{unique}", f"test-{sent}-{uuid.uuid4().hex[:8]}")
    return EITHER.sub(lambda m: m.group(1) if sent % 2 == 1 else m.group(2), body)


def _events(conninfo: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(conninfo) as conn:
        return [
            (str(row[0]), row[1])
            for row in conn.execute(
                "select action, request_id from iam.audit_events order by occurred_at, id"
            ).fetchall()
        ]


def test_each_bench_write_is_accepted_and_records_one_event(seeded: str) -> None:
    secret = new_secret()
    settings = app_settings(seeded, secret)
    writes = workloads(seeded, PLAN, token_service(secret))
    assert [w.name for w in writes] == list(ACTIONS)
    seeded_events = _events(seeded)
    assert seeded_events and all(request_id is None for _, request_id in seeded_events)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for write in writes:
            assert len(write.requests) >= 2
            for request in write.requests[:2]:
                # Twice per line: the role change must change the role back.
                for sent in (1, 2):
                    before = events(seeded)
                    answer = client.request(
                        request.method,
                        request.path,
                        content=_body(request, sent),
                        headers={
                            "Authorization": f"Bearer {request.token}",
                            "Content-Type": "application/json",
                        },
                    )
                    assert answer.status_code in (200, 201), answer.text
                    added = _events(seeded)[before:]
                    assert [action for action, _ in added] == [ACTIONS[write.name]]

    remove_bench_writes(seeded, PLAN)
    assert _events(seeded) == seeded_events
    with psycopg.connect(seeded) as conn:
        row = conn.execute("select count(*) from iam.projects where name like 'bench-%'").fetchone()
    assert row == (0,)
