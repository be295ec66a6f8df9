"""GET /projects and GET /projects/{id} answer the same with and without service/http/hot_routes.py.

The layer calls the routes' own functions for input in its plain form and
hands everything else to the router. Here the same requests go to an app
with the layer and to the same app without it: statuses, bodies and headers
must be identical, for answers (pages, a project, HEAD, CORS) and refusals
(401, 403, 404, 422) alike; plain requests must not reach the router, and
every other one must.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.http.hot_routes import HotRoutes
from service.http.metrics import REQUESTS
from tests.support.api import Org, make_settings
from tests.support.database import TestDatabase

ORIGIN = "https://app.example"


class Counting:
    """The router behind the layer, counting the requests handed to it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def apps(database: TestDatabase) -> Iterator[tuple[TestClient, TestClient, Counting]]:
    settings = make_settings(database, cors_allow_origins=ORIGIN)
    with_layer, without_layer = create_app(settings), create_app(settings)
    layer = with_layer.router.middleware_stack
    assert isinstance(layer, HotRoutes)
    router = layer.router = Counting(layer.router)
    without_layer.router.middleware_stack = without_layer.router.middleware_stack.router
    with (
        TestClient(with_layer, raise_server_exceptions=False) as hot,
        TestClient(without_layer, raise_server_exceptions=False) as plain,
    ):
        yield hot, plain, router


def _same(
    apps: tuple[TestClient, TestClient, Counting],
    path: str,
    headers: dict[str, str],
    *,
    method: str = "GET",
    routed: bool,
) -> tuple[int, str]:
    hot, plain, router = apps
    headers = {**headers, "X-Request-ID": "hot-routes-test", "Origin": ORIGIN}
    before = router.calls
    one = hot.request(method, path, headers=headers)
    assert router.calls - before == (1 if routed else 0), path
    two = plain.request(method, path, headers=headers)
    assert (one.status_code, one.text) == (two.status_code, two.text), path
    assert dict(one.headers) == dict(two.headers), path
    return one.status_code, one.text


@pytest.fixture
def cursor(client: TestClient, org: Org) -> str:
    for name in ("Gemini", "Mercury"):
        response = client.post("/projects", json={"name": name}, headers=org.admin.headers)
        assert response.status_code == 201, response.text
    page = client.get("/projects?limit=1", headers=org.admin.headers).json()
    assert page["next_cursor"]
    return str(page["next_cursor"])


def test_plain_lists_and_projects_skip_the_router(
    apps: tuple[TestClient, TestClient, Counting], org: Org, cursor: str
) -> None:
    member = org.read_only.headers
    for path in (
        "/projects",
        "/projects?limit=1",
        "/projects?limit=100",
        f"/projects?cursor={cursor}",
        f"/projects?limit=2&cursor={cursor}",
        f"/projects?cursor={cursor}&limit=2",
        f"/projects/{org.project_id}",
    ):
        assert _same(apps, path, member, routed=False)[0] == 200
    assert _same(apps, "/projects", member, method="HEAD", routed=False)[0] == 200


def test_refusals_on_the_plain_path_are_the_apps(
    apps: tuple[TestClient, TestClient, Counting], org: Org, other_org: Org
) -> None:
    member = org.user.headers
    assert _same(apps, "/projects", {}, routed=False)[0] == 401
    assert _same(apps, "/projects", {"Authorization": "Bearer x.y.z"}, routed=False)[0] == 401
    assert _same(apps, f"/projects/{other_org.project_id}", member, routed=False)[0] == 404
    absent = "00000000-0000-4000-8000-000000000000"
    assert _same(apps, f"/projects/{absent}", member, routed=False)[0] == 404
    assert _same(apps, "/projects?cursor=forged", member, routed=False)[0] == 422


def test_a_removed_member_is_refused_on_the_plain_path(
    apps: tuple[TestClient, TestClient, Counting], client: TestClient, org: Org
) -> None:
    removed = client.delete(f"/members/{org.user.user_id}", headers=org.admin.headers)
    assert removed.status_code == 204, removed.text
    assert _same(apps, "/projects", org.user.headers, routed=False)[0] == 403
    assert _same(apps, f"/projects/{org.project_id}", org.user.headers, routed=False)[0] == 403


def test_every_other_form_goes_to_the_router(
    apps: tuple[TestClient, TestClient, Counting], org: Org, cursor: str
) -> None:
    member = org.admin.headers
    upper = org.project_id.upper()
    # The cursor's end, altered and percent-encoded. The second-to-last
    # character always carries six bits of the cursor (the last may carry only
    # two, and "-w" and "--" then decode alike), so it must change.
    altered_end = "%5F%5F" if cursor[-2] == "-" else "%2D%2D"
    for path, status in (
        ("/projects?limit=0", 422),
        ("/projects?limit=101", 422),
        ("/projects?limit=abc", 422),
        ("/projects?limit=05", 200),
        ("/projects?limit=1&limit=2", 200),
        ("/projects?other=1", 200),
        ("/projects?cursor=", 422),
        (f"/projects?cursor={cursor[:-2]}{altered_end}", 422),
        ("/projects?cursor=" + "A" * 201, 422),
        (f"/projects/{upper}", 200),
        (f"/projects/{org.project_id}?x=1", 200),
        ("/projects/not-a-uuid", 422),
        (f"/projects/{org.project_id}/", 404),
        ("/projects/", 404),
    ):
        assert _same(apps, path, member, routed=True)[0] == status, path


def test_the_layer_names_the_route_in_metrics(
    apps: tuple[TestClient, TestClient, Counting], org: Org
) -> None:
    counter = REQUESTS.labels("GET", "/projects/{project_id}", "200")
    before = counter._value.get()
    _same(apps, f"/projects/{org.project_id}", org.admin.headers, routed=False)
    # One from each app, both under the route's template.
    assert counter._value.get() - before == 2
