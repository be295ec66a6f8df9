"""The API with the app-filter design on its two hot reads, for the bench's end-to-end A/B.

`python -m bench.appfilter --host H --port P --workers N` is `rls-iam serve`
itself, with one difference: the app it serves. That app is the real one
(`service.http.app.create_app`: the same middleware, error handlers, token
check, pool and routes), except that `GET /projects` and
`GET /projects/{project_id}` get the caller's runner from a dependency of the
bench's, `AppFilterRunner`, instead of the real `RequestRunner`:

- the route functions are the real ones: copies of the same code objects,
  whose `tenant` parameter names this module's dependency; they decode the
  cursor, build the page body and answer exactly as the real routes do; the
  API's layer that calls them before the router (service/http/hot_routes.py)
  gets this module's dependency too;
- the dependency verifies the bearer token exactly as the real one does (the
  same TokenService and its cache, the same 401 answers) and records the
  caller for the access log;
- the runner sends ONE statement on a pooled connection, as the connecting
  superuser (which row-level security does not apply to), with the tenant in
  the SQL: `WHERE p.organization_id = %(org_id)s`, the organization taken
  from the token. No context, no role switch, no membership lookup: the
  application trusts its token, as the seed design did.

The SQL is the API's own (service/db/queries/projects.py: the same columns,
the same JSON built by PostgreSQL, the same keyset page), with the tenant
filter added. Nothing of this is part of the service.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, APIRouter
from psycopg.abc import Params

from service.db.queries import projects
from service.db.queries.pages import AFTER, json_object, keyset_page
from service.http.deps import Bearer, get_state
from service.http.errors import unauthorized
from service.http.hot_routes import HotRoutes
from service.http.log_context import identity_var
from service.security.tokens import InvalidToken

_TENANT = "p.organization_id = %(org_id)s"


def _page(where: str) -> str:
    return keyset_page(
        f"select p.*, p.id as page_key from iam.projects as p where {where}"
        " order by p.created_at desc, p.id desc limit %(limit)s + 1",
        projects.COLUMNS,
    )


# The API's statement -> the same statement with the tenant in its WHERE.
APP_FILTER_SQL = {
    projects.LIST_FIRST: _page(_TENANT),
    projects.LIST_AFTER: _page(
        f"{_TENANT} and " + AFTER.format(created="p.created_at", key="p.id")
    ),
    projects.GET: (
        f"select {json_object('p', projects.COLUMNS)} from iam.projects as p"
        f" where {_TENANT} and p.id = %(id)s"
    ),
}


@dataclass(frozen=True)
class AppFilterRunner:
    """What the routes call instead of RequestRunner.fetchone: one statement, no context."""

    pool: Any
    org_id: UUID | None

    async def fetchone(self, query: str, params: Params | None = None) -> tuple[Any, ...] | None:
        statement = APP_FILTER_SQL[query]
        async with self.pool.connection() as conn:
            cursor = await conn.execute(statement, {**dict(params or {}), "org_id": self.org_id})
            row: tuple[Any, ...] | None = await cursor.fetchone()
            return row


async def _app_filter_tenant(request: Request, token: Bearer) -> AppFilterRunner:
    # The real dependency's steps (service/http/deps.py), without its RequestRunner.
    state = await get_state(request)
    if token is None:
        raise unauthorized()
    try:
        claims = state.tokens.verify(token)
    except InvalidToken:
        raise unauthorized() from None
    identity = identity_var.get()
    if identity is not None:
        identity.update(user_id=str(claims.user_id), org_id=str(claims.org_id or ""))
    return AppFilterRunner(state.pool, claims.org_id)


AppFilterTenant = Annotated[AppFilterRunner, Depends(_app_filter_tenant)]

# The routes answered the app-filter way: (path, method).
ROUTES = {("/projects", "GET"), ("/projects/{project_id}", "GET")}


def with_app_filter_tenant(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The route function itself (its code object), with `tenant` from AppFilterTenant."""
    copy = types.FunctionType(
        endpoint.__code__,
        endpoint.__globals__,
        endpoint.__name__,
        endpoint.__defaults__,
        endpoint.__closure__,
    )
    copy.__kwdefaults__ = endpoint.__kwdefaults__
    signature = inspect.signature(endpoint, eval_str=True)
    parameters = [
        parameter.replace(annotation=AppFilterTenant) if name == "tenant" else parameter
        for name, parameter in signature.parameters.items()
    ]
    copy.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return copy


def _answered_the_app_filter_way(route: object) -> bool:
    return isinstance(route, APIRoute) and any(
        (route.path, method) in ROUTES for method in route.methods or ()
    )


def use_app_filter(app: FastAPI) -> FastAPI:
    """Serve the hot reads the app-filter way; every other route, and the routes'
    order, stay the API's.

    The app includes each module's router (service/http/app.py); the projects
    router is shared by every app of the process, so it is not changed: the
    app includes a copy of it instead, at the same place, whose two hot reads
    are new routes of the same route functions.
    """
    for index, entry in enumerate(app.router.routes):
        original = getattr(entry, "original_router", None)
        if original is None or not any(map(_answered_the_app_filter_way, original.routes)):
            continue
        copy = APIRouter()
        for route in original.routes:
            if not _answered_the_app_filter_way(route):
                copy.routes.append(route)
                continue
            copy.add_api_route(
                route.path,
                with_app_filter_tenant(route.endpoint),
                methods=list(route.methods),
                response_model=route.response_model,
                status_code=route.status_code,
                tags=route.tags,
                summary=route.summary,
                description=route.description,
                responses=route.responses,
                operation_id=route.operation_id,
                name=route.name,
                response_class=route.response_class,
            )
        app.include_router(copy)
        app.router.routes[index] = app.router.routes.pop()
        # The API calls these routes' functions before the router does
        # (service/http/hot_routes.py): there too, with this runner.
        layer = app.router.middleware_stack
        if isinstance(layer, HotRoutes):
            layer.member_runner = _app_filter_tenant
        return app
    raise RuntimeError("bench.appfilter: the app has no router with GET /projects")


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory bench.appfilter:app_factory`)."""
    from service.http.app import create_app

    return use_app_filter(create_app())


def main(argv: list[str]) -> int:
    """`rls-iam serve`, serving app_factory's app instead of the API's."""
    import argparse

    import uvicorn

    from service.cli import server

    parser = argparse.ArgumentParser(prog="python -m bench.appfilter", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    serve_api = uvicorn.run

    def serve_app_filter(app: Any, **kwargs: Any) -> None:
        # The server's own settings (protocol, limits, workers) as rls-iam serve
        # passes them; only the app's import string changes.
        assert app == "service.http.app:app_factory", app
        serve_api("bench.appfilter:app_factory", **kwargs)

    uvicorn.run = serve_app_filter
    return server.serve(host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
