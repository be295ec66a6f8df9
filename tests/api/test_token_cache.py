"""The cache of verified tokens: it saves PyJWT's work, never a check.

A token is cached only after every check passed; a cached token is refused
once it expires; the cache stays bounded; and the database still decides on
every request whether the token's user may act.
"""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from service.security import tokens
from service.security.tokens import InvalidToken, TokenService
from tests.support.api import Org, assert_problem, owner_sql
from tests.support.database import TestDatabase

SECRET = "cache-secret-" + "y" * 40


def service(*, ttl_seconds: int = 600, leeway_seconds: int = 0) -> TokenService:
    return TokenService(
        secret=SECRET,
        previous_secrets=(),
        issuer="rls-iam",
        audience="rls-iam-api",
        ttl_seconds=ttl_seconds,
        leeway_seconds=leeway_seconds,
    )


def a_token(tokens_: TokenService) -> str:
    return tokens_.issue(uuid.uuid4(), uuid.uuid4(), "ORG_USER", uuid.uuid4())


def test_a_verified_token_is_answered_from_the_cache() -> None:
    tokens_ = service()
    token = a_token(tokens_)
    first = tokens_.verify(token)
    assert tokens_.verify(token) is first


def test_a_cached_token_is_refused_once_it_expires() -> None:
    tokens_ = service(ttl_seconds=1)
    token = a_token(tokens_)
    expires_at = tokens_.verify(token).expires_at
    assert tokens_.verify(token).expires_at == expires_at  # from the cache
    time.sleep(max(0.0, expires_at + 0.1 - time.time()))
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens_.verify(token)


def test_a_refused_token_is_not_cached() -> None:
    tokens_ = service()
    other = TokenService(
        secret="another-secret-" + "z" * 40,
        previous_secrets=(),
        issuer="rls-iam",
        audience="rls-iam-api",
        ttl_seconds=600,
        leeway_seconds=0,
    )
    forged = a_token(other)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens_.verify(forged)
    assert tokens_._verified == {}


def test_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 3)
    tokens_ = service()
    issued = [a_token(tokens_) for _ in range(5)]
    verified = [tokens_.verify(token) for token in issued]
    assert len(tokens_._verified) == 3
    # The oldest left the cache and is verified again, with the same answer.
    assert tokens_.verify(issued[0]) == verified[0]
    assert len(tokens_._verified) == 3


def test_a_used_token_of_a_deactivated_user_is_401(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    assert client.get("/projects", headers=org.user.headers).status_code == 200
    owner_sql(database, "update iam.users set is_active = false where id = %s", (org.user.user_id,))
    assert_problem(client.get("/projects", headers=org.user.headers), 401)


def test_a_used_token_of_a_removed_member_is_403(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    assert client.get("/projects", headers=org.read_only.headers).status_code == 200
    owner_sql(
        database,
        "delete from iam.organization_memberships where user_id = %s and organization_id = %s",
        (org.read_only.user_id, org.read_only.org_id),
    )
    assert_problem(client.get("/projects", headers=org.read_only.headers), 403)
    assert_problem(client.post("/projects", json={"name": "x"}, headers=org.read_only.headers), 403)


# The cache holds what never changes for a token (its signature and claims);
# whether its session is live is asked of the database on every request, in
# the context statement. A cached token of an ended session is therefore refused
# on its very next request, while it is still in the cache.


def test_a_cached_token_of_a_logged_out_session_is_401(client: TestClient, org: Org) -> None:
    tokens_ = client.app.state.rls_iam.tokens  # type: ignore[attr-defined]
    assert client.get("/projects", headers=org.user.headers).status_code == 200
    assert org.user.token in tokens_._verified
    assert client.post("/auth/logout", headers=org.user.headers).status_code == 204
    assert org.user.token in tokens_._verified  # still cached...
    assert_problem(client.get("/projects", headers=org.user.headers), 401)  # ...and refused


def test_a_cached_token_of_a_revoked_session_is_401(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    tokens_ = client.app.state.rls_iam.tokens  # type: ignore[attr-defined]
    assert client.get("/projects", headers=org.read_only.headers).status_code == 200
    assert org.read_only.token in tokens_._verified
    # Revoked out of band (another session's DELETE, a password change, an operator).
    owner_sql(database, "delete from iam.sessions where id = %s", (org.read_only.session_id,))
    assert_problem(client.get("/projects", headers=org.read_only.headers), 401)
    assert_problem(client.get("/auth/me", headers=org.read_only.headers), 401)
