"""An organization's life: read, rename and delete the active one; leave it.

The role matrix of these endpoints is in test_access_matrix.py.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.api import (
    Org,
    accept,
    add_member,
    assert_problem,
    invite,
    make_org,
    owner_sql,
    register,
    unique_email,
)
from tests.support.database import TestDatabase


def owned_rows(database: TestDatabase, org_id: str) -> dict[str, int]:
    counts = {}
    for table in ("organizations", "organization_memberships", "projects", "invitations"):
        column = "id" if table == "organizations" else "organization_id"
        rows = owner_sql(
            database, f"select count(*) from iam.{table} where {column} = %s", (org_id,)
        )
        counts[table] = int(rows[0][0])
    return counts


def test_deleting_the_organization_removes_everything_it_owns(
    client: TestClient, database: TestDatabase
) -> None:
    org = make_org(client, "doomed", "Doomed project")
    invite(client, org.admin, unique_email("pending"), "ORG_USER")
    assert all(owned_rows(database, org.admin.org_id).values())

    response = client.delete(f"/organizations/{org.admin.org_id}", headers=org.admin.headers)

    assert response.status_code == 204, response.text
    assert set(owned_rows(database, org.admin.org_id).values()) == {0}
    # The users remain, with their other organizations.
    assert owner_sql(database, "select 1 from iam.users where id = %s", (org.user.user_id,))


def test_tokens_of_a_deleted_organization_fail_on_their_next_request(
    client: TestClient, org: Org
) -> None:
    assert client.get("/projects", headers=org.user.headers).status_code == 200

    assert (
        client.delete(f"/organizations/{org.admin.org_id}", headers=org.admin.headers).status_code
        == 204
    )

    for actor in (org.admin, org.user, org.read_only):
        assert_problem(client.get("/projects", headers=actor.headers), 403)
        assert_problem(client.get("/auth/me", headers=actor.headers), 403)
        assert_problem(client.get(f"/organizations/{org.admin.org_id}", headers=actor.headers), 403)
        listed = client.get("/organizations", headers=actor.headers).json()["items"]
        assert org.admin.org_id not in {item["id"] for item in listed}


def test_sole_member_who_is_the_last_admin_leaves_by_deleting_the_organization(
    client: TestClient, database: TestDatabase
) -> None:
    alone = register(client, "alone")
    refused = client.delete(f"/members/{alone.user_id}", headers=alone.headers)
    assert_problem(refused, 409)

    response = client.delete(f"/organizations/{alone.org_id}", headers=alone.headers)

    assert response.status_code == 204, response.text
    assert owned_rows(database, alone.org_id)["organization_memberships"] == 0


def test_every_member_of_an_organization_with_another_admin_can_leave(
    client: TestClient, org: Org
) -> None:
    second = add_member(client, org.admin, "ORG_ADMIN", "second")
    for actor in (org.user, org.read_only, org.admin):
        response = client.delete(f"/members/{actor.user_id}", headers=actor.headers)
        assert response.status_code == 204, response.text
    members = client.get("/members", headers=second.headers).json()["items"]
    assert [item["user_id"] for item in members] == [second.user_id]


def test_rename_changes_the_name_everyone_sees(client: TestClient, org: Org) -> None:
    response = client.patch(
        f"/organizations/{org.admin.org_id}",
        json={"name": "  Renamed  "},
        headers=org.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
    seen = client.get(f"/organizations/{org.admin.org_id}", headers=org.read_only.headers).json()
    assert seen["name"] == "Renamed"
    assert client.get("/auth/me", headers=org.user.headers).json()["organization"]["name"] == (
        "Renamed"
    )


def test_another_organization_of_the_same_admin_is_404_through_this_token(
    client: TestClient, database: TestDatabase, org: Org, other_org: Org
) -> None:
    # org's admin is also an admin of other_org, but the token acts in org.
    invitation = invite(client, other_org.admin, org.admin.email, "ORG_ADMIN")
    accept(client, org.admin, invitation["token"])
    other_id = other_org.admin.org_id

    for response in (
        client.get(f"/organizations/{other_id}", headers=org.admin.headers),
        client.patch(f"/organizations/{other_id}", json={"name": "x"}, headers=org.admin.headers),
        client.delete(f"/organizations/{other_id}", headers=org.admin.headers),
    ):
        assert_problem(response, 404)
    assert owned_rows(database, other_id)["organizations"] == 1
