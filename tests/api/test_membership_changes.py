"""Role changes and removals take effect at once; an organization never loses its last admin.

The caller's role comes from the membership table on every request (README §5),
so an old token is worth exactly what the membership says now.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    Actor,
    Org,
    accept,
    add_member,
    assert_problem,
    invite,
    owner_sql,
    register,
)
from tests.support.database import TestDatabase


def admins_of(database: TestDatabase, org_id: str) -> set[str]:
    rows = owner_sql(
        database,
        "select user_id::text from iam.organization_memberships"
        " where organization_id = %s and role = 'ORG_ADMIN'",
        (org_id,),
    )
    return {str(row[0]) for row in rows}


def role_of(database: TestDatabase, org_id: str, user_id: str) -> str | None:
    rows = owner_sql(
        database,
        "select role::text from iam.organization_memberships"
        " where organization_id = %s and user_id = %s",
        (org_id, user_id),
    )
    return str(rows[0][0]) if rows else None


# ------------------------------------------------------------------ demotion and removal


def test_demoted_admin_loses_admin_rights_on_the_next_request(client: TestClient, org: Org) -> None:
    second = add_member(client, org.admin, "ORG_ADMIN", "second")
    scratch = client.post("/projects", json={"name": "Scratch"}, headers=second.headers).json()
    assert client.delete(f"/projects/{scratch['id']}", headers=second.headers).status_code == 204
    project = client.post("/projects", json={"name": "Kept"}, headers=org.admin.headers).json()

    response = client.patch(
        f"/members/{second.user_id}", json={"role": "READ_ONLY"}, headers=org.admin.headers
    )
    assert response.status_code == 200, response.text

    assert_problem(client.delete(f"/projects/{project['id']}", headers=second.headers), 403)
    assert_problem(client.post("/projects", json={"name": "No"}, headers=second.headers), 403)
    assert_problem(
        client.patch(
            f"/members/{org.user.user_id}", json={"role": "READ_ONLY"}, headers=second.headers
        ),
        403,
    )
    assert client.get("/auth/me", headers=second.headers).json()["role"] == "READ_ONLY"
    assert client.get(f"/projects/{project['id']}", headers=second.headers).status_code == 200


def test_promoted_member_gains_rights_on_the_next_request(client: TestClient, org: Org) -> None:
    assert_problem(client.delete(f"/projects/{org.project_id}", headers=org.read_only.headers), 403)
    response = client.patch(
        f"/members/{org.read_only.user_id}", json={"role": "ORG_ADMIN"}, headers=org.admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "ORG_ADMIN"
    assert (
        client.delete(f"/projects/{org.project_id}", headers=org.read_only.headers).status_code
        == 204
    )


def test_removed_member_is_refused_everywhere_on_the_next_request(
    client: TestClient, org: Org
) -> None:
    assert client.get("/projects", headers=org.user.headers).status_code == 200
    response = client.delete(f"/members/{org.user.user_id}", headers=org.admin.headers)
    assert response.status_code == 204, response.text

    old = org.user.headers
    for method, path in [
        ("GET", "/auth/me"),
        ("GET", "/projects"),
        ("GET", f"/projects/{org.project_id}"),
        ("PATCH", f"/projects/{org.project_id}"),
        ("DELETE", f"/projects/{org.project_id}"),
        ("GET", "/members"),
        ("DELETE", f"/members/{org.user.user_id}"),
    ]:
        body = {"name": "x"} if method == "PATCH" else None
        assert_problem(client.request(method, path, json=body, headers=old), 403)
    assert_problem(client.post("/projects", json={"name": "x"}, headers=old), 403)
    # The project is untouched.
    assert client.get(f"/projects/{org.project_id}", headers=org.admin.headers).status_code == 200


def test_readded_member_regains_access_with_the_old_token(client: TestClient, org: Org) -> None:
    assert (
        client.delete(f"/members/{org.user.user_id}", headers=org.admin.headers).status_code == 204
    )
    assert_problem(client.get("/projects", headers=org.user.headers), 403)
    invitation = invite(client, org.admin, org.user.email, "READ_ONLY")
    accept(client, org.user, invitation["token"])
    assert client.get("/projects", headers=org.user.headers).status_code == 200
    assert client.get("/auth/me", headers=org.user.headers).json()["role"] == "READ_ONLY"


# ------------------------------------------------------------------ leaving


@pytest.mark.parametrize("role", ["ORG_ADMIN", "ORG_USER", "READ_ONLY"])
def test_member_can_leave_the_organization(
    client: TestClient, database: TestDatabase, org: Org, role: str
) -> None:
    leaver = add_member(client, org.admin, role, "leaver")

    response = client.delete(f"/members/{leaver.user_id}", headers=leaver.headers)

    assert response.status_code == 204, response.text
    assert role_of(database, org.admin.org_id, leaver.user_id) is None
    assert_problem(client.get("/projects", headers=leaver.headers), 403)
    assert org.admin.org_id not in {
        item["id"] for item in client.get("/organizations", headers=leaver.headers).json()["items"]
    }


# ------------------------------------------------------------------ the last admin


def test_only_admin_cannot_demote_themselves(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    response = client.patch(
        f"/members/{org.admin.user_id}", json={"role": "ORG_USER"}, headers=org.admin.headers
    )
    body = assert_problem(response, 409)
    assert "IAM01" not in str(body) and "keep_last_admin" not in str(body)
    assert admins_of(database, org.admin.org_id) == {org.admin.user_id}


def test_only_admin_cannot_leave(client: TestClient, database: TestDatabase, org: Org) -> None:
    response = client.delete(f"/members/{org.admin.user_id}", headers=org.admin.headers)
    assert_problem(response, 409)
    assert admins_of(database, org.admin.org_id) == {org.admin.user_id}
    assert client.get("/projects", headers=org.admin.headers).status_code == 200


def test_only_admin_keeping_their_role_is_not_a_conflict(client: TestClient, org: Org) -> None:
    response = client.patch(
        f"/members/{org.admin.user_id}", json={"role": "ORG_ADMIN"}, headers=org.admin.headers
    )
    assert response.status_code == 200, response.text


def test_admin_demoted_by_another_then_last_one_cannot_go(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    second = add_member(client, org.admin, "ORG_ADMIN", "second")
    demoted = client.patch(
        f"/members/{org.admin.user_id}", json={"role": "ORG_USER"}, headers=second.headers
    )
    assert demoted.status_code == 200, demoted.text
    assert_problem(
        client.patch(
            f"/members/{second.user_id}", json={"role": "READ_ONLY"}, headers=second.headers
        ),
        409,
    )
    assert_problem(client.delete(f"/members/{second.user_id}", headers=second.headers), 409)
    assert admins_of(database, org.admin.org_id) == {second.user_id}


# ------------------------------------------------------------------ races on the last admin


@contextmanager
def organization_locked(database: TestDatabase, org_id: str) -> Iterator[Callable[[int], None]]:
    """Hold the organization's advisory lock, which the last-admin trigger takes too.

    Requests that reach the trigger queue up behind this lock; the yielded
    function waits until n of them are waiting. On exit the lock is released
    and they all proceed at once: a real race, every time.
    """
    with psycopg.connect(database.conninfo) as holder:
        holder.execute(
            "select pg_advisory_xact_lock(1769107757, iam.organization_lock_key(%s))", (org_id,)
        )

        def wait_for(waiting: int) -> None:
            if os.environ.get("TEST_DATABASE_POOLER") == "transaction":
                # Behind PgBouncer with one server connection (the CI's pooler
                # pass), one transaction runs at a time: the others wait in
                # the pooler, not at this lock.
                waiting = 1
            deadline = time.monotonic() + 10
            with psycopg.connect(database.conninfo, autocommit=True) as probe:
                while time.monotonic() < deadline:
                    rows = probe.execute(
                        "select count(*) from pg_stat_activity"
                        " where datname = current_database() and wait_event_type = 'Lock'"
                        " and pid <> %s",
                        (holder.info.backend_pid,),
                    ).fetchone()
                    if rows is not None and rows[0] >= waiting:
                        return
                    time.sleep(0.02)
            raise AssertionError(f"fewer than {waiting} requests reached the lock")

        yield wait_for
        holder.rollback()


def race(
    client: TestClient,
    database: TestDatabase,
    org_id: str,
    requests: list[Callable[[], httpx.Response]],
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(requests))

    def run(send: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return send()

    with ThreadPoolExecutor(len(requests)) as pool:
        with organization_locked(database, org_id) as wait_for:
            futures: list[Future[httpx.Response]] = [pool.submit(run, send) for send in requests]
            wait_for(len(requests))
        return [future.result(timeout=30) for future in futures]


def two_admins(client: TestClient) -> tuple[Actor, Actor]:
    first = register(client, "race-a")
    second = add_member(client, first, "ORG_ADMIN", "race-b")
    return first, second


def test_two_admins_leaving_at_once_leave_exactly_one_admin(
    client: TestClient, database: TestDatabase
) -> None:
    first, second = two_admins(client)

    responses = race(
        client,
        database,
        first.org_id,
        [
            lambda: client.delete(f"/members/{first.user_id}", headers=first.headers),
            lambda: client.delete(f"/members/{second.user_id}", headers=second.headers),
        ],
    )

    assert sorted(response.status_code for response in responses) == [204, 409]
    assert_problem(next(r for r in responses if r.status_code == 409), 409)
    assert len(admins_of(database, first.org_id)) == 1


def test_two_admins_demoting_themselves_at_once_leave_exactly_one_admin(
    client: TestClient, database: TestDatabase
) -> None:
    first, second = two_admins(client)

    responses = race(
        client,
        database,
        first.org_id,
        [
            lambda: client.patch(
                f"/members/{first.user_id}", json={"role": "ORG_USER"}, headers=first.headers
            ),
            lambda: client.patch(
                f"/members/{second.user_id}", json={"role": "READ_ONLY"}, headers=second.headers
            ),
        ],
    )

    assert sorted(response.status_code for response in responses) == [200, 409]
    assert len(admins_of(database, first.org_id)) == 1


def _demote_each_other(
    client: TestClient, database: TestDatabase
) -> tuple[list[httpx.Response], set[str]]:
    first, second = two_admins(client)
    responses = race(
        client,
        database,
        first.org_id,
        [
            lambda: client.patch(
                f"/members/{second.user_id}", json={"role": "ORG_USER"}, headers=first.headers
            ),
            lambda: client.patch(
                f"/members/{first.user_id}", json={"role": "ORG_USER"}, headers=second.headers
            ),
        ],
    )
    return responses, admins_of(database, first.org_id)


def test_two_admins_demoting_each_other_at_once_leave_exactly_one_admin(
    client: TestClient, database: TestDatabase
) -> None:
    responses, admins = _demote_each_other(client, database)

    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 200, statuses
    # The loser is refused, not failed. By the time its update runs it is no
    # longer an admin (403); a deadlock between the two is a conflict (409).
    assert statuses[1] in (403, 409), statuses
    assert_problem(next(r for r in responses if r.status_code != 200), statuses[1])
    assert len(admins) == 1
