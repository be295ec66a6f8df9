"""The FastAPI application: factory, lifespan, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

import service
from service.db.migrate import latest_migration_version
from service.db.pool import create_pool
from service.db.target import resolve_database
from service.http import conventions, hot_routes, metrics, openapi
from service.http.errors import install_error_handlers
from service.http.logging_setup import configure_logging
from service.http.middleware import RequestContextMiddleware
from service.http.pagination import CursorCodec
from service.http.routers import (
    audit_events,
    auth,
    health,
    invitations,
    members,
    organizations,
    projects,
    sessions,
)
from service.http.state import AppState
from service.security.passwords import Passwords, hashing_threads
from service.security.signing_secret import previous_secrets, signing_secret
from service.security.tokens import TokenService
from service.settings import Settings, get_settings

DESCRIPTION = """
Multi-tenant identity and access API. Tenant isolation and role checks are
enforced by PostgreSQL row-level security; each operation says which role it needs.

**Authentication.** `POST /auth/register` or `POST /auth/login` answer with an
access token (a JWT); send it as `Authorization: Bearer <token>`. It names one
organization, the *active* one, on which every tenant endpoint acts.

**Errors** are RFC 9457 `application/problem+json` bodies. Switch on `type`, a
stable reference such as `/problems/name-taken` (the list, with meanings, is in
docs/errors.md); 422 adds `errors: [{loc, msg}]`. A path called with a method it
lacks answers 405 (`about:blank`) with `Allow`; an unknown path 404 (`about:blank`);
a trailing slash is an unknown path, never a redirect.

**Lists** are `{items, next_cursor}`, newest first: pass `next_cursor` back as
`?cursor=` to the same list. Cursors are opaque and signed.

**Every response** carries `X-Request-ID`; `HEAD` is answered wherever `GET` is.
"""


def build_state(settings: Settings) -> AppState:
    tokens = TokenService(
        secret=signing_secret(settings),
        previous_secrets=previous_secrets(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_access_ttl_seconds,
        leeway_seconds=settings.jwt_leeway_seconds,
    )
    target = resolve_database(settings)
    return AppState(
        settings=settings,
        conninfo=target.api_conninfo,
        pool=create_pool(target.api_conninfo, settings),
        tokens=tokens,
        passwords=Passwords(threads=hashing_threads(settings.workers)),
        latest_migration=latest_migration_version(),
        cursors=CursorCodec(tokens.secret, tokens.previous_secrets),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # wait=False: the API starts, and /readyz tells when the database
        # answers. Where no lifespan runs (serverless), get_state opens it.
        await state.ready_pool()
        await state.passwords.warm_up()
        try:
            yield
        finally:
            await state.pool.close()

    # Swagger UI and ReDoc from the assets fastapi-offline ships: no CDN.
    app = FastAPIOffline(
        title="rls-iam",
        version=service.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The documentation's order, whatever the order of the routes.
        openapi_tags=openapi.TAGS,
        # /projects/ is not /projects: no redirect built from the Host header.
        redirect_slashes=False,
        static_url="/docs/assets",
    )
    openapi.install(app)
    app.state.rls_iam = state
    install_error_handlers(app)
    # Routes are matched in order: the busiest first.
    for module in (
        projects,
        members,
        auth,
        sessions,
        invitations,
        organizations,
        audit_events,
        health,
        metrics,
    ):
        app.include_router(module.router)
    metrics.register_pool(state.pool)
    hot_routes.install(app)
    conventions.install(app, settings.cors_origins)
    app.add_middleware(RequestContextMiddleware)
    return app


def app_factory() -> Any:
    """Entry point for `uvicorn --factory service.http.app:app_factory`."""
    return create_app()
