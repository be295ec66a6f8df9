"""Request dependencies: the verified claims and the tenant transaction, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection

from service.context import identity_var
from service.errors import forbidden, unauthorized
from service.security.tokens import Claims, InvalidToken
from service.state import AppState
from service.tenancy import Tenant, anon_transaction, tenant_transaction

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.rls_iam
    await state.ready_pool()
    return state


State = Annotated[AppState, Depends(get_state)]


# async although it awaits nothing: FastAPI runs plain `def` dependencies in
# a thread pool, and a thread hop costs more than checking an HMAC.
async def get_claims(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    try:
        claims = state.tokens.verify(credentials.credentials)
    except InvalidToken:
        raise unauthorized() from None
    identity = identity_var.get()
    if identity is not None:
        identity.update(user_id=str(claims.user_id), org_id=str(claims.org_id))
    return claims


CurrentClaims = Annotated[Claims, Depends(get_claims)]


async def _identity(state: State, claims: CurrentClaims) -> AsyncIterator[Tenant]:
    async with tenant_transaction(
        state.pool, claims.user_id, claims.org_id, state.settings.database_statement_timeout_ms
    ) as tenant:
        if not tenant.user_active:
            # The user was deleted or deactivated: the token no longer speaks for anyone.
            raise unauthorized()
        yield tenant


async def _member(tenant: Annotated[Tenant, Depends(_identity, scope="function")]) -> Tenant:
    if tenant.role is None:
        # The database says the caller is not (or no longer) a member of the
        # token's organization: every tenant endpoint is closed to them.
        raise forbidden("You are not a member of this organization.")
    return tenant


# scope="function": the transaction commits when the route returns, before
# the response is sent.
IdentityTx = Annotated[Tenant, Depends(_identity, scope="function")]
TenantTx = Annotated[Tenant, Depends(_member, scope="function")]


async def _anon(state: State) -> AsyncIterator[AsyncConnection[Any]]:
    async with anon_transaction(state.pool, state.settings.database_statement_timeout_ms) as conn:
        yield conn


AnonTx = Annotated[AsyncConnection[Any], Depends(_anon, scope="function")]
