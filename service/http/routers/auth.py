"""Registration, login, switching organization, the caller's identity, password change."""

from __future__ import annotations

import time
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from psycopg.errors import UniqueViolation

from service.db.queries import auth as queries
from service.db.queries import sessions
from service.db.queries.throttle import record_login_failure, throttle_wait
from service.db.runner import SET_TENANT_CONTEXT_ONLY, anon_transaction, tenant_context
from service.http.client_ip import client_ip
from service.http.deps import CallerRunner, IdentityRunner, State
from service.http.errors import Problem, not_found, too_many_requests, unauthorized
from service.http.responses import problems
from service.http.schemas import (
    LoginIn,
    MeOut,
    OrganizationRef,
    PasswordChangeIn,
    RegisterIn,
    RegisterOut,
    SwitchOrganizationIn,
    TokenOut,
    UserOut,
)
from service.http.state import AppState
from service.security.tokens import new_refresh_token

router = APIRouter(prefix="/auth", tags=["auth"])

_BAD_LOGIN = "Invalid email, password or organization."
_BAD_PASSWORD = "The current password is not correct."  # noqa: S105 - a message


def user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return agent[:500] if agent else None


def token_out(
    state: AppState,
    *,
    user_id: UUID,
    organization: OrganizationRef | None,
    role: str | None,
    session_id: UUID,
    refresh_token: str,
    session_expires_at: datetime,
) -> TokenOut:
    """The body of every sign-in: access token, refresh token, active organization."""
    return TokenOut(
        access_token=state.tokens.issue(
            user_id, None if organization is None else organization.id, role, session_id
        ),
        expires_in=state.tokens.ttl_seconds,
        refresh_token=refresh_token,
        refresh_expires_in=max(0, int(session_expires_at.timestamp() - time.time())),
        organization=organization,
        role=role,
    )


@router.post("/register", status_code=201, response_model=RegisterOut, responses=problems(409, 429))
async def register(state: State, request: Request, body: RegisterIn) -> RegisterOut:
    timeout = state.settings.database_statement_timeout_ms
    client = client_ip(request, state.settings.trusted_proxies)
    async with anon_transaction(state.pool, timeout) as conn:
        wait = await throttle_wait(conn, state.settings, client, None)
    if wait:
        raise too_many_requests(wait)
    # Hash outside any transaction, so no connection waits on argon2.
    password_hash = await state.passwords.hash(body.password)
    refresh_token = new_refresh_token()
    async with anon_transaction(state.pool, timeout) as conn:
        try:
            created = await queries.register(
                conn, body.email, password_hash, body.organization_name
            )
        except UniqueViolation:
            raise Problem(409, "An account with this email already exists.") from None
        session = await sessions.start(
            conn,
            created.user_id,
            created.organization_id,
            refresh_token,
            state.settings.jwt_refresh_ttl_seconds,
            user_agent(request),
        )
    signed_in = token_out(
        state,
        user_id=created.user_id,
        organization=OrganizationRef(id=created.organization_id, name=created.organization_name),
        role="ORG_ADMIN",
        session_id=session.session_id,
        refresh_token=refresh_token,
        session_expires_at=session.expires_at,
    )
    return RegisterOut(
        **signed_in.model_dump(), user=UserOut(id=created.user_id, email=created.email)
    )


@router.post("/login", response_model=TokenOut, responses=problems(401, 429))
async def login(state: State, request: Request, body: LoginIn) -> TokenOut:
    timeout = state.settings.database_statement_timeout_ms
    client = client_ip(request, state.settings.trusted_proxies)
    async with anon_transaction(state.pool, timeout) as conn:
        wait = await throttle_wait(conn, state.settings, client, body.email)
        candidate = (
            None if wait else await queries.login_lookup(conn, body.email, body.organization_id)
        )
    if wait:
        raise too_many_requests(wait)
    # Unknown email, wrong password, inactive user and foreign organization
    # all verify one hash and give the same answer. A user who belongs to
    # no organization, asking for none, signs in without one.
    verified = await state.passwords.verify(
        candidate.password_hash if candidate else None, body.password
    )
    if (
        candidate is None
        or not verified
        or not candidate.is_active
        or (body.organization_id is not None and candidate.organization_id is None)
    ):
        async with anon_transaction(state.pool, timeout) as conn:
            await record_login_failure(conn, state.settings, body.email)
        raise unauthorized(_BAD_LOGIN)
    new_hash = (
        await state.passwords.hash(body.password)
        if state.passwords.needs_rehash(candidate.password_hash)
        else None
    )
    refresh_token = new_refresh_token()
    async with anon_transaction(state.pool, timeout) as conn:
        if new_hash is not None:
            await queries.set_password_hash(
                conn, candidate.user_id, candidate.password_hash, new_hash
            )
        session = await sessions.start(
            conn,
            candidate.user_id,
            candidate.organization_id,
            refresh_token,
            state.settings.jwt_refresh_ttl_seconds,
            user_agent(request),
        )
    organization = (
        None
        if candidate.organization_id is None or candidate.organization_name is None
        else OrganizationRef(id=candidate.organization_id, name=candidate.organization_name)
    )
    return token_out(
        state,
        user_id=candidate.user_id,
        organization=organization,
        role=None if organization is None else candidate.role,
        session_id=session.session_id,
        refresh_token=refresh_token,
        session_expires_at=session.expires_at,
    )


@router.get("/me", response_model=MeOut, responses=problems(401, 403))
async def me(tenant: CallerRunner) -> MeOut:
    found = await queries.me(tenant)
    return MeOut(
        user=UserOut(id=found.user_id, email=found.email),
        organization=(
            None
            if found.organization_id is None or found.organization_name is None
            else OrganizationRef(id=found.organization_id, name=found.organization_name)
        ),
        role=found.role,
    )


@router.post("/switch-organization", response_model=TokenOut, responses=problems(401, 404))
async def switch_organization(
    state: State, tenant: IdentityRunner, body: SwitchOrganizationIn
) -> TokenOut:
    refresh_token = new_refresh_token()
    switched = await sessions.switch_organization(tenant, body.organization_id, refresh_token)
    if switched is None:
        raise not_found("Organization")
    return token_out(
        state,
        user_id=tenant.user_id,
        organization=OrganizationRef(id=switched.organization_id, name=switched.organization_name),
        role=switched.role,
        session_id=tenant.session_id,
        refresh_token=refresh_token,
        session_expires_at=switched.expires_at,
    )


async def count_password_attempt(state: AppState, request: Request, email: str) -> None:
    """A password check outside login counts against the login limits: 429 when reached.

    The one place where password change meets the login throttle.
    """
    client = client_ip(request, state.settings.trusted_proxies)
    async with anon_transaction(state.pool, state.settings.database_statement_timeout_ms) as conn:
        wait = await throttle_wait(conn, state.settings, client, email)
    if wait:
        raise too_many_requests(wait)


@router.post("/password", status_code=204, responses=problems(401, 429))
async def change_password(
    state: State, request: Request, tenant: IdentityRunner, body: PasswordChangeIn
) -> Response:
    # The caller's email, read in the request's own round trip (which also
    # checks the session); the password is then checked the way login does.
    email = await queries.caller_email(tenant)
    if email is None:
        raise unauthorized()
    await count_password_attempt(state, request, email)
    new_hash = await state.passwords.hash(body.new_password)
    timeout = state.settings.database_statement_timeout_ms
    changed = False
    # One transaction: the stored hash is read, verified and replaced
    # (compare-and-set on the hash read), and every other session ends.
    async with anon_transaction(state.pool, timeout) as conn:
        candidate = await queries.login_lookup(conn, email, None)
        verified = await state.passwords.verify(
            candidate.password_hash if candidate else None, body.current_password
        )
        if candidate is None or candidate.user_id != tenant.user_id or not verified:
            await record_login_failure(conn, state.settings, email)
        else:
            changed = await queries.change_password_hash(
                conn, candidate.user_id, candidate.password_hash, new_hash
            )
            if changed:
                await conn.execute(
                    SET_TENANT_CONTEXT_ONLY,
                    tenant_context(tenant.user_id, None, timeout, tenant.session_id),
                )
                await conn.execute(sessions.END_OTHERS)
            else:
                raise Problem(409, "The password was changed concurrently; retry.")
    if not changed:
        raise unauthorized(_BAD_PASSWORD)
    return Response(status_code=204)
