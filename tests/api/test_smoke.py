from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Org


def test_read_only_member_cannot_delete_project(client: TestClient, org: Org) -> None:
    response = client.delete(f"/projects/{org.project_id}", headers=org.read_only.headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/projects/{org.project_id}", headers=org.admin.headers).status_code == 200


def test_other_tenant_sees_404_for_foreign_project(client: TestClient, org: Org, other_org: Org) -> None:
    response = client.get(f"/projects/{org.project_id}", headers=other_org.admin.headers)
    assert response.status_code == 404
    response = client.delete(f"/projects/{org.project_id}", headers=other_org.admin.headers)
    assert response.status_code == 404
