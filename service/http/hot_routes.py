"""The two busiest reads, called without FastAPI's generic per-request work.

`GET /projects` and `GET /projects/{project_id}` are most of a tenant's
traffic, and FastAPI's dependency resolution and parameter checks cost
about as much CPU per request as everything else the API does for them
(docs/performance.md, "The API's own CPU"). For these two, with input in
its plain form, this layer calls the same dependency functions and the same
route functions FastAPI would call, with the values FastAPI would pass:

- `GET /projects` whose query string is empty, or `limit` (1 to 100, plain
  digits) and/or `cursor` (1 to 200 URL-safe base64 characters), each once;
- `GET /projects/{project_id}` whose id is a UUID in its canonical form
  (lower-case hex with hyphens) and no query string.

Any other request goes to the router, untouched: another path or method, an
app served under a root path, any other query string (an unknown parameter,
a repeated one, percent-encoding, a limit out of range), an id in another
spelling. So every 422 and 404 of
these routes still comes from FastAPI itself, and the answers of the two
ways can be compared (tests/api/test_hot_routes.py).

It sits where the router starts: inside the exception middleware, so an
exception raised on the way (401, 403, 404, a database error) gets the
app's own handlers, exactly as a route's does; and inside every middleware
(request id, security headers, CORS, body limit, HEAD, access log and
metrics, which name the route as the router would).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.types import ASGIApp, Receive, Scope, Send

from service.http import deps
from service.http.routers import projects

_PROJECT_PATH = re.compile(
    r"/projects/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_LIMIT = re.compile(rb"[1-9][0-9]?|100")
_CURSOR = re.compile(rb"[A-Za-z0-9_-]{1,200}")


def _list_arguments(query: bytes) -> tuple[int, str | None] | None:
    """(limit, cursor) of a query string in its plain form; None for any other."""
    limit, cursor = 50, None
    if not query:
        return limit, cursor
    seen: set[bytes] = set()
    for pair in query.split(b"&", 2):
        name, _, value = pair.partition(b"=")
        if name in seen:
            return None
        seen.add(name)
        if name == b"limit" and _LIMIT.fullmatch(value):
            limit = int(value)
        elif name == b"cursor" and _CURSOR.fullmatch(value):
            cursor = value.decode("ascii")
        else:
            return None
    return limit, cursor


class HotRoutes:
    """Pure ASGI, in front of the router; see the module's docstring."""

    def __init__(self, router: ASGIApp, app: FastAPI) -> None:
        self.router = router
        self.app_router = app.router
        self.bearer = deps.BearerToken()
        # The routes' `tenant` dependency (MemberRunner's function).
        self.member_runner: Callable[[Request, str | None], Awaitable[Any]] = deps.member_runner
        self.list_route = _route(
            app, "/projects", projects.list_projects, ("request", "tenant", "limit", "cursor")
        )
        self.get_route = _route(
            app, "/projects/{project_id}", projects.get_project, ("tenant", "project_id")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Under a root path (a mount, a proxy's prefix) the router does the matching.
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            if path == "/projects":
                arguments = _list_arguments(scope["query_string"])
                if arguments is not None:
                    limit, cursor = arguments
                    await self._serve(scope, receive, send, self.list_route, {}, limit, cursor)
                    return
            elif not scope["query_string"] and (found := _PROJECT_PATH.fullmatch(path)):
                path_params = {"project_id": found.group(1)}
                project_id = UUID(found.group(1))
                await self._serve(scope, receive, send, self.get_route, path_params, project_id)
                return
        await self.router(scope, receive, send)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: APIRoute,
        path_params: dict[str, str],
        *arguments: Any,
    ) -> None:
        # What the router records of the route it chose (the access log and
        # the metrics read scope["route"]).
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = path_params
        scope.setdefault("router", self.app_router)
        request = Request(scope, receive, send)

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            tenant = await self.member_runner(request, await self.bearer(request))
            if route is self.list_route:
                response = await projects.list_projects(request, tenant, *arguments)
            else:
                response = await projects.get_project(tenant, *arguments)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(respond, request)(scope, receive, send)


def _route(
    app: FastAPI, path: str, endpoint: Callable[..., Any], parameters: tuple[str, ...]
) -> APIRoute:
    """The app's GET route at path, which must still be the function this layer calls,
    with the parameters it passes: a route that changes fails here, at start-up."""
    if tuple(inspect.signature(endpoint).parameters) != parameters:
        raise RuntimeError(f"GET {path}: its parameters changed; change hot_routes.py too")
    for route in _api_routes(app):
        if route.path == path and "GET" in (route.methods or ()):
            if route.endpoint is not endpoint:
                raise RuntimeError(f"GET {path} is served by another function")
            return route
    raise RuntimeError(f"the app has no GET {path}")


def _api_routes(app: FastAPI) -> list[APIRoute]:
    found: list[APIRoute] = []
    for entry in app.router.routes:
        if isinstance(entry, APIRoute):
            found.append(entry)
        # An included router (FastAPI's include_router keeps the router itself).
        for route in getattr(getattr(entry, "original_router", None), "routes", ()):
            if isinstance(route, APIRoute):
                found.append(route)
    return found


def install(app: FastAPI) -> None:
    """Put the layer where the router starts, inside the app's middleware."""
    app.router.middleware_stack = HotRoutes(app.router.middleware_stack, app)
