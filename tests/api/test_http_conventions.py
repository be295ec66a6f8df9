"""Location on 201, HEAD wherever GET is, no trailing-slash redirect, CORS (docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from tests.support.api import make_settings, register, unique_email
from tests.support.database import TestDatabase

ORIGIN = "https://app.example.com"


def test_every_201_has_the_location_of_what_it_created(client: TestClient) -> None:
    email = unique_email()
    registered = client.post(
        "/auth/register",
        json={"email": email, "password": "x" * 12, "organization_name": "Loc"},
    )
    assert registered.status_code == 201
    assert registered.headers["location"] == "/auth/me"
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}

    project = client.post("/projects", json={"name": "located"}, headers=headers)
    assert project.headers["location"] == f"/projects/{project.json()['id']}"
    assert client.get(project.headers["location"], headers=headers).json() == project.json()

    organization = client.post("/organizations", json={"name": "second"}, headers=headers)
    assert organization.headers["location"] == f"/organizations/{organization.json()['id']}"

    admin = register(client)
    invitation = client.post(
        "/invitations", json={"email": unique_email(), "role": "ORG_USER"}, headers=admin.headers
    )
    assert invitation.status_code == 201
    assert invitation.headers["location"] == f"/invitations/{invitation.json()['id']}"
    shown = client.get(invitation.headers["location"], headers=admin.headers)
    assert shown.json() == {k: v for k, v in invitation.json().items() if k != "token"}
    head = client.head(invitation.headers["location"], headers=admin.headers)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("path", ["/projects", "/members", "/organizations", "/auth/me"])
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    admin = register(client)
    get = client.get(path, headers=admin.headers)
    head = client.head(path, headers=admin.headers)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["x-request-id"]


def test_head_of_a_missing_resource_is_404_and_of_a_post_only_path_405(
    client: TestClient,
) -> None:
    admin = register(client)
    head = client.head("/projects/00000000-0000-0000-0000-000000000000", headers=admin.headers)
    assert head.status_code == 404 and head.content == b""
    assert client.head("/auth/login").status_code == 405
    assert client.head("/healthz").status_code == 200


def test_a_trailing_slash_is_not_redirected(client: TestClient) -> None:
    admin = register(client)
    response = client.get(
        "/projects/", headers={**admin.headers, "Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/projects",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.fixture(scope="module")
def cors_client(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(database, cors_allow_origins=f"{ORIGIN}, https://other.example:8443")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_cors_preflight_for_a_listed_origin(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/projects",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert preflight.headers["x-request-id"]


def test_cors_exposes_the_request_id_to_a_listed_origin(cors_client: TestClient) -> None:
    admin = register(cors_client)
    response = cors_client.get("/projects", headers={**admin.headers, "Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "location" in exposed


def test_cors_refuses_an_unlisted_origin(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/projects",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_a_bad_cors_origin_stops_start_up(database: TestDatabase) -> None:
    with pytest.raises(ValueError, match=r"cors_allow_origins"):
        make_settings(database, cors_allow_origins="app.example.com/path")


def test_content_length_with_trailing_space_is_read_as_its_number(client: TestClient) -> None:
    admin = register(client)
    body = b'{"name":"spaced"}'
    response = client.post(
        "/projects",
        content=body,
        headers={
            **admin.headers,
            "Content-Type": "application/json",
            "Content-Length": f"{len(body)} ",
        },
    )
    assert response.status_code == 201, response.text


def test_docs_and_redoc_load_their_assets_from_the_api(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn" not in html.lower(), page
        assets = [part.split('"')[0] for part in html.split('src="')[1:] + html.split('href="')[1:]]
        local = [asset for asset in assets if asset.startswith("/docs/assets/")]
        assert local, (page, assets)
        for asset in local:
            assert client.get(asset).status_code == 200, asset
        assert all(not asset.startswith("http") for asset in assets), assets
