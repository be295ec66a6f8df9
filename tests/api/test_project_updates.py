"""PATCH /projects/{id} changes only what it is given (README §8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Org, make_org


@pytest.fixture(scope="module")
def org(client: TestClient) -> Org:
    """Each test works on a project of its own, so one tenant serves them all."""
    return make_org(client, "updates-admin", "Updates")


PROJECT_FIELDS = {
    "id",
    "organization_id",
    "name",
    "description",
    "created_by_user_id",
    "created_at",
    "updated_at",
}


def create(client: TestClient, org: Org) -> dict[str, Any]:
    response = client.post(
        "/projects",
        json={"name": f"u-{uuid.uuid4().hex[:8]}", "description": "first"},
        headers=org.user.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == PROJECT_FIELDS
    assert body["created_at"] == body["updated_at"]
    return body


def patch(client: TestClient, org: Org, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/projects/{project_id}", json=body, headers=org.admin.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert set(result) == PROJECT_FIELDS
    return result


def test_patching_the_name_keeps_the_description(client: TestClient, org: Org) -> None:
    project = create(client, org)
    updated = patch(client, org, project["id"], {"name": "Renamed"})
    assert (updated["name"], updated["description"]) == ("Renamed", "first")
    unchanged = {"id", "organization_id", "created_by_user_id", "created_at"}
    assert {key: updated[key] for key in unchanged} == {key: project[key] for key in unchanged}
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        project["updated_at"]
    )
    assert client.get(f"/projects/{project['id']}", headers=org.read_only.headers).json() == updated


def test_patching_the_description_keeps_the_name(client: TestClient, org: Org) -> None:
    project = create(client, org)
    updated = patch(client, org, project["id"], {"description": "second"})
    assert (updated["name"], updated["description"]) == (project["name"], "second")


def test_description_null_clears_it(client: TestClient, org: Org) -> None:
    project = create(client, org)
    updated = patch(client, org, project["id"], {"description": None})
    assert (updated["name"], updated["description"]) == (project["name"], None)


def test_empty_patch_changes_nothing_visible(client: TestClient, org: Org) -> None:
    project = create(client, org)
    updated = patch(client, org, project["id"], {})
    assert (updated["name"], updated["description"]) == (project["name"], project["description"])


def test_renaming_to_a_new_case_of_its_own_name_is_allowed(client: TestClient, org: Org) -> None:
    project = create(client, org)
    updated = patch(client, org, project["id"], {"name": project["name"].upper()})
    assert updated["name"] == project["name"].upper()
