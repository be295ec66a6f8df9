"""Tools of the attack tests: owner counts, forged tokens, a chosen peer IP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from service.http.app import create_app
from service.security.tokens import TokenService
from service.settings import Settings
from tests.support.api import TEST_SECRET
from tests.support.database import TestDatabase

TABLES = ("users", "organizations", "organization_memberships", "projects", "invitations")


def owner_counts(database: TestDatabase) -> dict[str, int]:
    """Row counts of every iam table, read as the owner (RLS does not apply)."""
    with psycopg.connect(database.conninfo) as conn:
        return {
            table: int(conn.execute(f"select count(*) from iam.{table}").fetchone()[0])  # type: ignore[index]
            for table in TABLES
        }


def token_service(secret: str = TEST_SECRET) -> TokenService:
    """Issues tokens exactly as the app under test does (same secret, issuer and audience)."""
    defaults = Settings(jwt_access_secret=secret)
    return TokenService(
        secret=secret,
        previous_secrets=(),
        issuer=defaults.jwt_issuer,
        audience=defaults.jwt_audience,
        ttl_seconds=defaults.jwt_access_ttl_seconds,
        leeway_seconds=defaults.jwt_leeway_seconds,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT with any header, HMAC-SHA256-signed with any key (no library refuses anything)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def valid_claims(user_id: str, org_id: str, session_id: str) -> dict[str, Any]:
    now = int(time.time())
    defaults = Settings(jwt_access_secret=TEST_SECRET)
    return {
        "sub": user_id,
        "org_id": org_id,
        "sid": session_id,
        "roles": ["ORG_ADMIN"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": defaults.jwt_issuer,
        "aud": defaults.jwt_audience,
        "jti": uuid.uuid4().hex,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class PeerFromHeader:
    """Sets the ASGI peer address from the test-only header X-Test-Peer, as a socket would.

    One app (one pool, one event loop) can then serve requests from many
    client addresses; the header is removed before the app sees the request.
    """

    HEADER = b"x-test-peer"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = list(scope.get("headers") or [])
            peer = next((v for k, v in headers if k == self.HEADER), None)
            if peer is not None:
                scope = dict(scope)
                scope["client"] = (peer.decode(), 40000)
                scope["headers"] = [(k, v) for k, v in headers if k != self.HEADER]
        await self.app(scope, receive, send)


@contextmanager
def app_client(settings: Settings, *, peer_header: bool = False) -> Iterator[TestClient]:
    """A separate app instance (its own pool) over the same database, started and stopped."""
    app: ASGIApp = create_app(settings)
    if peer_header:
        app = PeerFromHeader(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def wait_for_fresh_window(window_seconds: int, needed_seconds: float = 5.0) -> None:
    """Sleep past the end of a fixed rate-limit window that would end while a test runs."""
    remaining = window_seconds - (time.time() % window_seconds)
    if remaining < needed_seconds:
        time.sleep(remaining + 0.05)


def unique_ip(prefix: str = "10") -> str:
    """An address no other test uses: rate-limit counters persist in the session database."""
    raw = uuid.uuid4().bytes
    return f"{prefix}.{raw[0]}.{raw[1]}.{max(raw[2], 1)}"
