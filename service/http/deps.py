"""Request dependencies: the app state and the caller's tenant, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param

from service.db.runner import RequestRunner
from service.http.errors import unauthorized
from service.http.log_context import identity_var, request_id_var
from service.http.state import AppState
from service.security.tokens import InvalidToken


class BearerToken(SecurityBase):
    """The token of an `Authorization: Bearer` header, or None; documented as HTTP bearer.

    FastAPI's HTTPBearer builds a pydantic model per request; this reads the
    header the same way and returns the string.
    """

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description="An access token (a JWT) from /auth/register, /auth/login or"
            " /auth/switch-organization.",
        )
        self.scheme_name = "HTTPBearer"

    async def __call__(self, request: Request) -> str | None:
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        return token if scheme.lower() == "bearer" and token else None


Bearer = Annotated[str | None, Depends(BearerToken())]


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.rls_iam
    await state.ready_pool()
    return state


State = Annotated[AppState, Depends(get_state)]


async def _tenant(
    request: Request, token: str | None, *, members_only: bool | None
) -> RequestRunner:
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
    if members_only is None:
        # A member of the token's organization, if the token names one.
        members_only = claims.org_id is not None
    return RequestRunner(
        pool=state.pool,
        user_id=claims.user_id,
        org_id=claims.org_id,
        session_id=claims.session_id,
        statement_timeout_ms=state.settings.database_statement_timeout_ms,
        members_only=members_only,
        request_id=request_id_var.get() or "",
    )


# Each is one dependency, async although the token check awaits nothing:
# FastAPI runs plain `def` dependencies in a thread pool, and every level of
# dependencies costs time on every request.
async def _identity(request: Request, token: Bearer) -> RequestRunner:
    # Any active user the token names, member of its organization or not.
    return await _tenant(request, token, members_only=False)


async def member_runner(request: Request, token: Bearer) -> RequestRunner:
    # Every tenant endpoint is closed to a caller who is not (or no longer)
    # a member of the token's organization: 403, as the database says.
    return await _tenant(request, token, members_only=True)


async def _caller(request: Request, token: Bearer) -> RequestRunner:
    # Endpoints that also serve a token without an organization (a user who
    # belongs to none); with one, the caller must still be its member.
    return await _tenant(request, token, members_only=None)


# The RequestRunner runs the route's statement and commits in the same round trip,
# before the route builds its response.
IdentityRunner = Annotated[RequestRunner, Depends(_identity)]
MemberRunner = Annotated[RequestRunner, Depends(member_runner)]
CallerRunner = Annotated[RequestRunner, Depends(_caller)]
