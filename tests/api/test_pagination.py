"""Keyset pagination (README §8): newest first, opaque cursors, stable under inserts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Actor, Org, accept, add_member, invite, register


def walk(
    client: TestClient,
    path: str,
    headers: dict[str, str],
    limit: int,
    between_pages: Callable[[int], None] | None = None,
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor; between_pages(n) runs after page n."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for page_number in range(1000):
        query = f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and cursor
        if between_pages is not None:
            between_pages(page_number)
    raise AssertionError("pagination did not end")


def newest_first(items: list[dict[str, Any]], key: str) -> bool:
    order = [(datetime.fromisoformat(item["created_at"]), item[key]) for item in items]
    return order == sorted(order, reverse=True)


def create_project(client: TestClient, actor: Actor, name: str) -> dict[str, Any]:
    response = client.post("/projects", json={"name": name}, headers=actor.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_project_walk_with_inserts_between_pages_skips_and_repeats_nothing(
    client: TestClient, org: Org
) -> None:
    existing = [org.project_id] + [
        create_project(client, org.user, f"pre-{index}")["id"] for index in range(8)
    ]
    inserted: list[str] = []

    def insert(page_number: int) -> None:
        inserted.append(create_project(client, org.admin, f"between-{page_number}")["id"])

    pages = walk(client, "/projects", org.read_only.headers, 2, insert)

    items = [item for page in pages for item in page]
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), "an item appeared twice"
    assert set(existing) <= set(ids), "a pre-existing item was skipped"
    # The walk has already passed the newest end: later inserts do not show up in it.
    assert not set(inserted) & set(ids)
    assert len(inserted) == len(pages) - 1 >= 4
    assert newest_first(items, "id")
    assert all(len(page) == 2 for page in pages[:-1])
    # A fresh walk sees everything, newest first.
    fresh = [
        item["id"] for page in walk(client, "/projects", org.admin.headers, 3) for item in page
    ]
    assert fresh[: len(inserted)] == list(reversed(inserted))
    assert set(fresh) == set(existing) | set(inserted)


def test_project_deleted_between_pages_does_not_disturb_the_walk(
    client: TestClient, org: Org
) -> None:
    created = [create_project(client, org.admin, f"d-{index}")["id"] for index in range(6)]
    # Newest first: created[5], created[4] are page one; delete one of page two.
    doomed = created[3]

    def delete(page_number: int) -> None:
        if page_number == 0:
            response = client.delete(f"/projects/{doomed}", headers=org.admin.headers)
            assert response.status_code == 204

    ids = [
        item["id"]
        for page in walk(client, "/projects", org.admin.headers, 2, delete)
        for item in page
    ]
    assert doomed not in ids
    assert set(ids) == (set(created) - {doomed}) | {org.project_id}
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("total", [4, 5])
def test_last_page_has_null_next_cursor(client: TestClient, total: int) -> None:
    admin = register(client, "lastpage")
    for index in range(total):
        create_project(client, admin, f"p-{index}")
    pages = walk(client, "/projects", admin.headers, 2)
    # 4 items: two full pages and no empty third page; 5 items: 2 + 2 + 1.
    assert [len(page) for page in pages] == ([2, 2] if total == 4 else [2, 2, 1])


def test_empty_list_has_null_next_cursor(client: TestClient) -> None:
    admin = register(client, "empty")
    response = client.get("/projects", headers=admin.headers)
    assert response.json() == {"items": [], "next_cursor": None}


def test_default_limit_is_50(client: TestClient) -> None:
    admin = register(client, "many")
    for index in range(51):
        create_project(client, admin, f"p-{index:02}")
    first = client.get("/projects", headers=admin.headers).json()
    assert len(first["items"]) == 50
    assert first["next_cursor"] is not None
    rest = client.get(f"/projects?cursor={first['next_cursor']}", headers=admin.headers).json()
    assert [item["name"] for item in rest["items"]] == ["p-00"]
    assert rest["next_cursor"] is None


def test_cursor_from_another_tenant_reveals_nothing(
    client: TestClient, org: Org, other_org: Org
) -> None:
    for index in range(3):
        create_project(client, other_org.admin, f"b-{index}")
    foreign_cursor = client.get("/projects?limit=1", headers=other_org.admin.headers).json()[
        "next_cursor"
    ]
    response = client.get(f"/projects?cursor={foreign_cursor}", headers=org.admin.headers)
    assert response.status_code == 200, response.text
    assert {item["organization_id"] for item in response.json()["items"]} <= {org.admin.org_id}


def test_member_walk_with_additions_between_pages(client: TestClient, org: Org) -> None:
    extra = [add_member(client, org.admin, "READ_ONLY", f"m{index}") for index in range(3)]
    existing = {org.admin.user_id, org.user.user_id, org.read_only.user_id} | {
        actor.user_id for actor in extra
    }
    newcomers = [register(client, f"late{index}") for index in range(3)]
    added: list[str] = []

    def add(page_number: int) -> None:
        if page_number < len(newcomers):
            newcomer = newcomers[page_number]
            invitation = invite(client, org.admin, newcomer.email, "ORG_USER")
            accept(client, newcomer, invitation["token"])
            added.append(newcomer.user_id)

    pages = walk(client, "/members", org.user.headers, 2, add)

    items = [item for page in pages for item in page]
    ids = [item["user_id"] for item in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == existing
    assert added and not set(added) & set(ids)
    assert newest_first(items, "user_id")
    assert set(items[0]) == {"user_id", "email", "role", "created_at"}


def test_organization_walk(client: TestClient) -> None:
    admin = register(client, "orgs")
    created = []
    for index in range(4):
        response = client.post("/organizations", json={"name": f"O{index}"}, headers=admin.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])

    pages = walk(client, "/organizations", admin.headers, 2)

    items = [item for page in pages for item in page]
    ids = [item["id"] for item in items]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert set(ids) == set(created) | {admin.org_id}
    assert len(ids) == len(set(ids))
    assert newest_first(items, "id")
    assert {item["role"] for item in items} == {"ORG_ADMIN"}


def test_organization_walk_with_new_organizations_between_pages(client: TestClient) -> None:
    admin = register(client, "orgs2")
    for index in range(3):
        assert (
            client.post(
                "/organizations", json={"name": f"O{index}"}, headers=admin.headers
            ).status_code
            == 201
        )
    before = {
        item["id"] for page in walk(client, "/organizations", admin.headers, 100) for item in page
    }
    added: list[str] = []

    def create(_: int) -> None:
        response = client.post(
            "/organizations", json={"name": f"N-{uuid.uuid4().hex[:4]}"}, headers=admin.headers
        )
        added.append(response.json()["id"])

    ids = [
        item["id"]
        for page in walk(client, "/organizations", admin.headers, 1, create)
        for item in page
    ]

    assert len(ids) == len(set(ids))
    assert set(ids) == before
    assert added and not set(added) & set(ids)
