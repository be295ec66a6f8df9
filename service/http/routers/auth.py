"""Registration, login, switching organization and the caller's identity (CONTRACT §4)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from psycopg.errors import UniqueViolation

from service.db.queries import auth as queries
from service.db.queries.throttle import (
    login_attempt,
    login_failed,
    login_succeeded,
    throttle_client,
)
from service.db.runner import anon_transaction
from service.http.client_ip import client_ip, client_key
from service.http.deps import IdentityRunner, MemberRunner, State
from service.http.errors import Problem, not_found, too_many_requests, unauthorized
from service.http.responses import problems
from service.http.schemas import (
    LoginIn,
    MeOut,
    OrganizationRef,
    RegisterIn,
    RegisterOut,
    SwitchOrganizationIn,
    TokenOut,
    UserOut,
)

router = APIRouter(prefix="/auth", tags=["auth"])

_BAD_LOGIN = "Invalid email, password or organization."


@router.post(
    "/register", status_code=201, response_model=RegisterOut, responses=problems(404, 409, 429)
)
async def register(state: State, request: Request, body: RegisterIn) -> RegisterOut:
    timeout = state.settings.database_statement_timeout_ms
    client = client_key(client_ip(request, state.settings.trusted_proxies))
    async with anon_transaction(state.pool, timeout) as conn:
        wait = await throttle_client(conn, state.settings, client)
    if wait:
        raise too_many_requests(wait)
    # Hash outside any transaction, so no connection waits on argon2.
    password_hash = await state.passwords.hash(body.password)
    async with anon_transaction(state.pool, timeout) as conn:
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
            raise Problem(409, "An account with this email already exists.") from None
    token = state.tokens.issue(created.user_id, created.organization_id, created.role)
    return RegisterOut(
        access_token=token,
        expires_in=state.tokens.ttl_seconds,
        user=UserOut(id=created.user_id, email=created.email),
        organization=OrganizationRef(id=created.organization_id, name=created.organization_name),
        role=created.role,
    )


@router.post("/login", response_model=TokenOut, responses=problems(401, 429))
async def login(state: State, request: Request, body: LoginIn) -> TokenOut:
    settings = state.settings
    timeout = settings.database_statement_timeout_ms
    client = client_key(client_ip(request, settings.trusted_proxies))
    # The attempt is reserved (counted as a failure) in the statement that
    # hands out the hash, and committed before the password is verified.
    async with anon_transaction(state.pool, timeout) as conn:
        attempt = await login_attempt(conn, settings, client, body.email, body.organization_id)
    if attempt.wait_seconds:
        raise too_many_requests(attempt.wait_seconds)
    if attempt.slow_down:
        # The email is under attack from elsewhere: slow down, never refuse.
        await asyncio.sleep(settings.login_slowdown_ms / 1000)
    # Unknown email, wrong password, inactive user and foreign organization
    # all verify one hash and give the same answer.
    verified = await state.passwords.verify(attempt.password_hash, body.password)
    if (
        attempt.user_id is None
        or attempt.password_hash is None
        or not verified
        or not attempt.is_active
        or attempt.organization_id is None
        or attempt.organization_name is None
        or attempt.role is None
    ):
        # The pair's failure is already counted; the email's is counted now.
        async with anon_transaction(state.pool, timeout) as conn:
            await login_failed(conn, settings, body.email)
        raise unauthorized(_BAD_LOGIN)
    new_hash = None
    if state.passwords.needs_rehash(attempt.password_hash):
        new_hash = await state.passwords.hash(body.password)
    async with anon_transaction(state.pool, timeout) as conn:
        await login_succeeded(conn, settings, client, body.email)
        if new_hash is not None:
            await queries.set_password_hash(conn, attempt.user_id, attempt.password_hash, new_hash)
    return TokenOut(
        access_token=state.tokens.issue(attempt.user_id, attempt.organization_id, attempt.role),
        expires_in=state.tokens.ttl_seconds,
        organization=OrganizationRef(id=attempt.organization_id, name=attempt.organization_name),
        role=attempt.role,
    )


@router.get("/me", response_model=MeOut, responses=problems(401, 403))
async def me(tenant: MemberRunner) -> MeOut:
    found = await queries.me(tenant)
    return MeOut(
        user=UserOut(id=found.user_id, email=found.email),
        organization=OrganizationRef(id=found.organization_id, name=found.organization_name),
        role=found.role,
    )


@router.post("/switch-organization", response_model=TokenOut, responses=problems(401, 404))
async def switch_organization(
    state: State, tenant: IdentityRunner, body: SwitchOrganizationIn
) -> TokenOut:
    membership = await queries.switch_organization(tenant, body.organization_id)
    if membership is None:
        raise not_found("Organization")
    return TokenOut(
        access_token=state.tokens.issue(
            tenant.user_id, membership.organization_id, membership.role
        ),
        expires_in=state.tokens.ttl_seconds,
        organization=OrganizationRef(
            id=membership.organization_id, name=membership.organization_name
        ),
        role=membership.role,
    )
