"""The bench's app-filter API answers what the real API answers, the other way.

bench/appfilter.py serves GET /projects and GET /projects/{id} with the
tenant in the SQL, on a superuser connection, for the end-to-end A/B of
docs/performance.md. The comparison is fair only if both do the same work
and give the same answers: here, on a seeded database, the same bodies,
statuses and headers for a page, the next page, a project, another tenant's
project and a bad token; and the app-filter statements really run without
row-level security (what the A/B compares), not under it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from bench.appfilter import APP_FILTER_SQL, use_app_filter
from bench.http import new_secret, token_service
from bench.plan import Plan, admin_of, org_id, session_id, user_id
from service.http.app import create_app
from tests.support.bench_seed import app_settings, seeded_database

PLAN = Plan.at_scale(0.002)
TENANT, OTHER = 3, 4


@pytest.fixture(scope="module")
def seeded(server_conninfo: str) -> Iterator[str]:
    with seeded_database(server_conninfo, "appfilter", PLAN) as conninfo:
        yield conninfo


@pytest.fixture(scope="module")
def clients(seeded: str) -> Iterator[tuple[TestClient, TestClient, str]]:
    secret = new_secret()
    settings = app_settings(seeded, secret)
    token = token_service(secret).issue(
        user_id(admin_of(TENANT)), org_id(TENANT), "ORG_ADMIN", session_id(admin_of(TENANT))
    )
    real = TestClient(create_app(settings), raise_server_exceptions=False)
    app_filter = TestClient(use_app_filter(create_app(settings)), raise_server_exceptions=False)
    with real, app_filter:
        yield real, app_filter, token


def _same(real: TestClient, app_filter: TestClient, path: str, token: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "bench-appfilter-test"}
    one, two = real.get(path, headers=headers), app_filter.get(path, headers=headers)
    assert (one.status_code, one.text) == (two.status_code, two.text)
    assert dict(one.headers) == dict(two.headers)
    return one.status_code, one.text


def test_pages_and_projects_are_the_real_apis(clients: tuple[TestClient, TestClient, str]) -> None:
    real, app_filter, token = clients
    status, _ = _same(real, app_filter, "/projects?limit=20", token)
    assert status == 200
    page = real.get("/projects?limit=20", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(page["items"]) == 20
    assert {item["organization_id"] for item in page["items"]} == {str(org_id(TENANT))}
    assert page["next_cursor"] is not None
    status, _ = _same(real, app_filter, f"/projects?cursor={page['next_cursor']}", token)
    assert status == 200
    project = page["items"][0]["id"]
    assert _same(real, app_filter, f"/projects/{project}", token)[0] == 200


def test_refusals_are_the_real_apis(
    seeded: str, clients: tuple[TestClient, TestClient, str]
) -> None:
    real, app_filter, token = clients
    with psycopg.connect(seeded) as conn:
        row = conn.execute(
            "select id from iam.projects where organization_id = %s limit 1", (org_id(OTHER),)
        ).fetchone()
    assert row is not None
    assert _same(real, app_filter, f"/projects/{row[0]}", token)[0] == 404
    assert _same(real, app_filter, "/projects", "not-a-token")[0] == 401
    assert _same(real, app_filter, "/projects?cursor=forged", token)[0] == 422


def test_app_filter_statements_run_without_row_level_security(seeded: str) -> None:
    # As the bench's connection does: the superuser, no context. Row-level
    # security would hide every row here (no context: no access); the filter
    # in the SQL is what keeps the tenant's rows apart.
    with psycopg.connect(seeded) as conn:
        sql = next(s for s in APP_FILTER_SQL.values() if "row_number" in s and "after_id" not in s)
        items, *_ = conn.execute(sql, {"org_id": org_id(TENANT), "limit": 100}).fetchone() or ()
        count = conn.execute(
            "select count(*) from iam.projects where organization_id = %s", (org_id(TENANT),)
        ).fetchone()
    assert count is not None
    assert items.count('"id"') == min(count[0], 100) > 0


def test_app_filter_trusts_the_token_where_the_database_checks_membership(
    seeded: str, clients: tuple[TestClient, TestClient, str]
) -> None:
    # What tells the two designs apart: a token naming an organization its
    # user is not a member of. The API reads the membership and refuses (403);
    # the app-filter design believes the token's organization. So the bench
    # measures the app-filter routes, not the API's under another name.
    real, app_filter, _ = clients
    outsider = admin_of(OTHER)
    secret_service = real.app.state.rls_iam.tokens  # type: ignore[attr-defined]
    token = secret_service.issue(
        user_id(outsider), org_id(TENANT), "ORG_ADMIN", session_id(outsider)
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert real.get("/projects", headers=headers).status_code == 403
    answer = app_filter.get("/projects", headers=headers)
    assert answer.status_code == 200
    assert {item["organization_id"] for item in answer.json()["items"]} == {str(org_id(TENANT))}
