"""Races on the rules the database enforces: unique emails, unique project names, the last admin.

Every request of a race is released at the same instant from its own
thread against `rls-iam serve --workers 2`, so the transactions overlap in
PostgreSQL, from two processes.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import psycopg
import pytest

from tests.support.api import PASSWORD, Actor, add_member, invite, register, unique_email
from tests.support.concurrency import run_concurrently
from tests.support.database import TestDatabase

REGISTRATIONS = 50
PROJECT_CREATES = 20
ADMIN_RACES = 8


def statuses(codes: list[int]) -> Counter[int]:
    counts = Counter(codes)
    print(f"statuses: {dict(sorted(counts.items()))}")
    return counts


def admin_count(database: TestDatabase, org_id: str) -> int:
    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute(
            "select count(*) from iam.organization_memberships"
            " where organization_id = %s and role = 'ORG_ADMIN'",
            (org_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_fifty_concurrent_registrations_with_one_email_create_exactly_one_account(
    http: httpx.Client, database: TestDatabase
) -> None:
    email = unique_email("race")

    def attempt(index: int) -> int:
        response = http.post(
            "/auth/register",
            json={"email": email, "password": PASSWORD, "organization_name": f"Race {index}"},
        )
        return response.status_code

    counts = statuses(run_concurrently(attempt, list(range(REGISTRATIONS))))

    assert counts == {201: 1, 409: REGISTRATIONS - 1}
    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute(
            "select count(*), count(m.user_id) from iam.users as u"
            " left join iam.organization_memberships as m on m.user_id = u.id"
            " where u.email = %s",
            (email,),
        ).fetchone()
        # The losers' organizations were rolled back with their users.
        orgs = conn.execute(
            "select count(*) from iam.organizations where name like 'Race %%'"
            " and not exists (select 1 from iam.organization_memberships as m"
            "                 where m.organization_id = organizations.id)"
        ).fetchone()
    assert row == (1, 1)
    assert orgs == (0,)


def test_concurrent_creates_of_one_project_name_create_exactly_one_project(
    http: httpx.Client,
) -> None:
    admin = register(http, "creator")
    name = f"Launch {uuid.uuid4().hex[:6]}"

    def attempt(index: int) -> int:
        # Case and spacing differ: the name is unique case-insensitively.
        spelled = name.upper() if index % 2 else name
        response = http.post("/projects", json={"name": spelled}, headers=admin.headers)
        return response.status_code

    counts = statuses(run_concurrently(attempt, list(range(PROJECT_CREATES))))

    assert counts == {201: 1, 409: PROJECT_CREATES - 1}
    listed = http.get("/projects", params={"limit": 100}, headers=admin.headers).json()
    assert [p["name"].lower() for p in listed["items"]] == [name.lower()]


def two_admin_org(http: httpx.Client) -> tuple[Actor, Actor]:
    first = register(http, "first-admin")
    second = add_member(http, first, "ORG_ADMIN", "second-admin")
    return first, second


def demote(http: httpx.Client, actor: Actor, target: Actor) -> int:
    response = http.patch(
        f"/members/{target.user_id}", json={"role": "ORG_USER"}, headers=actor.headers
    )
    assert response.status_code < 500, response.text
    return response.status_code


@pytest.mark.parametrize("round_", range(ADMIN_RACES))
def test_two_last_admins_demoting_themselves_at_once_leave_exactly_one_admin(
    http: httpx.Client, database: TestDatabase, round_: int
) -> None:
    first, second = two_admin_org(http)

    codes = run_concurrently(lambda actor: demote(http, actor, actor), [first, second])
    print(f"demoting themselves: {sorted(codes)}")

    assert sorted(codes) == [200, 409], codes
    assert admin_count(database, first.org_id) == 1


@pytest.mark.parametrize("round_", range(ADMIN_RACES))
def test_two_last_admins_demoting_each_other_at_once_leave_exactly_one_admin(
    http: httpx.Client, database: TestDatabase, round_: int
) -> None:
    first, second = two_admin_org(http)

    codes = run_concurrently(
        lambda pair: demote(http, pair[0], pair[1]), [(first, second), (second, first)]
    )
    print(f"demoting each other: {sorted(codes)}")

    # One demotion wins. The other either hits the last-admin rule (409)
    # or, when the winner committed first, runs as the ORG_USER its caller
    # has just become and is refused for its role (403): both are what the
    # same two requests give one after the other.
    assert sorted(codes) in ([200, 403], [200, 409]), codes
    assert admin_count(database, first.org_id) == 1


ACCEPT_RACES = 20


def test_concurrent_accepts_of_one_invitation_join_exactly_once(
    http: httpx.Client, database: TestDatabase
) -> None:
    admin = register(http, "inviter")
    invitee = register(http, "invitee")
    invitation = invite(http, admin, invitee.email, "ORG_USER")

    def attempt(_: int) -> int:
        response = http.post(
            "/invitations/accept", json={"token": invitation["token"]}, headers=invitee.headers
        )
        return response.status_code

    counts = statuses(run_concurrently(attempt, list(range(ACCEPT_RACES))))

    assert counts == {200: 1, 404: ACCEPT_RACES - 1}
    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute(
            "select count(*) from iam.organization_memberships"
            " where organization_id = %s and user_id = %s",
            (admin.org_id, invitee.user_id),
        ).fetchone()
        used = conn.execute(
            "select accepted_by_user_id::text from iam.invitations where id = %s",
            (invitation["id"],),
        ).fetchone()
    assert row == (1,)
    assert used == (invitee.user_id,)


def test_concurrent_registrations_with_one_invitation_create_exactly_one_account(
    http: httpx.Client, database: TestDatabase
) -> None:
    admin = register(http, "inviter")
    email = unique_email("invited-race")
    invitation = invite(http, admin, email, "READ_ONLY")

    def attempt(index: int) -> int:
        # Half with the invited email, half with others: only the invited one may join.
        response = http.post(
            "/auth/register",
            json={
                "email": email if index % 2 == 0 else unique_email("impostor"),
                "password": PASSWORD,
                "invitation_token": invitation["token"],
            },
        )
        return response.status_code

    counts = statuses(run_concurrently(attempt, list(range(ACCEPT_RACES))))

    assert counts[201] == 1
    assert sum(counts.values()) == ACCEPT_RACES
    # The others: the invitation is used (404), or the email was just taken (409).
    assert set(counts) <= {201, 404, 409}
    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute(
            "select count(*) from iam.organization_memberships where organization_id = %s",
            (admin.org_id,),
        ).fetchone()
    assert row == (2,)
