"""Registration, login, switching organization, the caller's identity, password change."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from psycopg.errors import UniqueViolation

from service.db.queries import auth as queries
from service.db.queries import sessions
from service.db.queries.throttle import (
    login_attempt,
    login_failed,
    login_succeeded,
    throttle_client,
)
from service.db.runner import SET_TENANT_CONTEXT_ONLY, anon_transaction, tenant_context
from service.http.client_ip import client_ip, client_key
from service.http.deps import CallerRunner, IdentityRunner, State
from service.http.errors import not_found, too_many_requests, unauthorized
from service.http.log_context import request_id_var
from service.http.openapi import ANY_MEMBER_OR_NO_ORGANIZATION, PUBLIC, SIGNED_IN, operation
from service.http.problem_types import (
    CONCURRENT_CHANGE,
    EMAIL_TAKEN,
    INVALID_CREDENTIALS,
    INVITATION_NOT_FOUND,
    NOT_A_MEMBER,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    WRONG_PASSWORD,
)
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


@router.post(
    "/register",
    status_code=201,
    response_model=RegisterOut,
    **operation(
        "register",
        "Register",
        PUBLIC,
        "Creates a user, an organization and the user's ORG_ADMIN membership in one"
        " transaction, and answers with an access token and a refresh token for a new"
        " session. With `invitation_token` instead of `organization_name`, the user joins"
        " the inviting organization with the invited role (the email must be the invited"
        " one). `Location` is `/auth/me`.",
        EMAIL_TAKEN,
        INVITATION_NOT_FOUND,
        RATE_LIMITED,
    ),
)
async def register(
    state: State, request: Request, response: Response, body: RegisterIn
) -> RegisterOut:
    timeout = state.settings.database_statement_timeout_ms
    client = client_key(client_ip(request, state.settings.trusted_proxies))
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        wait = await throttle_client(conn, state.settings, client)
    if wait:
        raise too_many_requests(wait)
    # Hash outside any transaction, so no connection waits on argon2.
    password_hash = await state.passwords.hash(body.password)
    refresh_token = new_refresh_token()
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        try:
            if body.invitation_token is not None:
                created = await queries.register_invited(
                    conn, body.email, password_hash, body.invitation_token
                )
            else:
                assert body.organization_name is not None  # RegisterIn asks for one of the two
                created = await queries.register(
                    conn, body.email, password_hash, body.organization_name
                )
        except UniqueViolation:
            raise EMAIL_TAKEN.problem() from None
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
        role=created.role,
        session_id=session.session_id,
        refresh_token=refresh_token,
        session_expires_at=session.expires_at,
    )
    response.headers["Location"] = "/auth/me"
    return RegisterOut(
        **signed_in.model_dump(), user=UserOut(id=created.user_id, email=created.email)
    )


@router.post(
    "/login",
    response_model=TokenOut,
    **operation(
        "login",
        "Log in",
        PUBLIC,
        "Starts a session: answers with an access token and a refresh token for the given"
        " organization, or, without `organization_id`, for the organization the user joined"
        " first (none when the user belongs to none).",
        INVALID_CREDENTIALS,
        RATE_LIMITED,
    ),
)
async def login(state: State, request: Request, body: LoginIn) -> TokenOut:
    settings = state.settings
    timeout = settings.database_statement_timeout_ms
    client = client_key(client_ip(request, settings.trusted_proxies))
    # The attempt is reserved (counted as a failure) in the statement that
    # hands out the hash, and committed before the password is verified.
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        attempt = await login_attempt(conn, settings, client, body.email, body.organization_id)
    if attempt.wait_seconds:
        raise too_many_requests(attempt.wait_seconds)
    if attempt.slow_down:
        # The email is under attack from elsewhere: slow down, never refuse.
        await asyncio.sleep(settings.login_slowdown_ms / 1000)
    # Unknown email, wrong password, inactive user and foreign organization
    # all verify one hash and give the same answer. A user who belongs to
    # no organization, asking for none, signs in without one.
    verified = await state.passwords.verify(attempt.password_hash, body.password)
    if (
        attempt.user_id is None
        or attempt.password_hash is None
        or not verified
        or not attempt.is_active
        or (body.organization_id is not None and attempt.organization_id is None)
    ):
        # The pair's failure is already counted; the email's is counted now.
        async with anon_transaction(state.pool, timeout, _request_id()) as conn:
            await login_failed(conn, settings, body.email)
        raise unauthorized(INVALID_CREDENTIALS.example, INVALID_CREDENTIALS)
    new_hash = None
    if state.passwords.needs_rehash(attempt.password_hash):
        new_hash = await state.passwords.hash(body.password)
    refresh_token = new_refresh_token()
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        await login_succeeded(conn, settings, client, body.email)
        if new_hash is not None:
            await queries.set_password_hash(conn, attempt.user_id, attempt.password_hash, new_hash)
        session = await sessions.start(
            conn,
            attempt.user_id,
            attempt.organization_id,
            refresh_token,
            settings.jwt_refresh_ttl_seconds,
            user_agent(request),
        )
    organization = (
        None
        if attempt.organization_id is None or attempt.organization_name is None
        else OrganizationRef(id=attempt.organization_id, name=attempt.organization_name)
    )
    return token_out(
        state,
        user_id=attempt.user_id,
        organization=organization,
        role=None if organization is None else attempt.role,
        session_id=session.session_id,
        refresh_token=refresh_token,
        session_expires_at=session.expires_at,
    )


@router.get(
    "/me",
    response_model=MeOut,
    **operation(
        "getMe",
        "Who am I",
        ANY_MEMBER_OR_NO_ORGANIZATION,
        "The caller, the token's organization, and the caller's role there now (read from"
        " the membership, not from the token); both null for a token without an organization.",
        UNAUTHORIZED,
        NOT_A_MEMBER,
    ),
)
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


@router.post(
    "/switch-organization",
    response_model=TokenOut,
    **operation(
        "switchOrganization",
        "Switch organization",
        SIGNED_IN,
        "Moves the caller's session to another organization the caller belongs to, and"
        " answers with new tokens for it.",
        UNAUTHORIZED,
        NOT_FOUND,
    ),
)
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


@router.post(
    "/password",
    status_code=204,
    **operation(
        "changePassword",
        "Change password",
        SIGNED_IN,
        "Replaces the caller's password after checking the current one, under the same limits"
        " as login, and ends every other session of the caller.",
        UNAUTHORIZED,
        WRONG_PASSWORD,
        RATE_LIMITED,
        CONCURRENT_CHANGE,
    ),
)
async def change_password(
    state: State, request: Request, tenant: IdentityRunner, body: PasswordChangeIn
) -> Response:
    # The caller's email, read in the request's own round trip (which also
    # checks the session); the current password is then checked the way
    # login checks one, against the same limits: the attempt is reserved
    # (counted as a failure) in the statement that hands out the hash.
    email = await queries.caller_email(tenant)
    if email is None:
        raise unauthorized()
    settings = state.settings
    timeout = settings.database_statement_timeout_ms
    client = client_key(client_ip(request, settings.trusted_proxies))
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        attempt = await login_attempt(conn, settings, client, email, None)
    if attempt.wait_seconds:
        raise too_many_requests(attempt.wait_seconds)
    if attempt.slow_down:
        await asyncio.sleep(settings.login_slowdown_ms / 1000)
    verified = await state.passwords.verify(attempt.password_hash, body.current_password)
    if (
        attempt.user_id != tenant.user_id
        or attempt.password_hash is None
        or not verified
        or not attempt.is_active
    ):
        async with anon_transaction(state.pool, timeout, _request_id()) as conn:
            await login_failed(conn, settings, email)
        raise unauthorized(WRONG_PASSWORD.example, WRONG_PASSWORD)
    new_hash = await state.passwords.hash(body.new_password)
    # One transaction: the hash is replaced only if it is still the one
    # verified (compare-and-set), and every other session ends with it.
    async with anon_transaction(state.pool, timeout, _request_id()) as conn:
        await login_succeeded(conn, settings, client, email)
        changed = await queries.change_password_hash(
            conn, attempt.user_id, attempt.password_hash, new_hash
        )
        if changed:
            await conn.execute(
                SET_TENANT_CONTEXT_ONLY,
                tenant_context(tenant.user_id, None, timeout, tenant.session_id, _request_id()),
            )
            await conn.execute(sessions.END_OTHERS)
    if not changed:
        raise CONCURRENT_CHANGE.problem("The password was changed concurrently; retry.")
    return Response(status_code=204)


def _request_id() -> str:
    # Into the transaction's context: the audit events of a registration name it.
    return request_id_var.get() or ""
