"""Access tokens (README §8): anything but a valid HS256 token with every claim is 401.

Tokens are forged with PyJWT around the claims of a real member, so that each
case differs from an accepted token in exactly one way.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.support.api import TEST_SECRET, Actor, Org, assert_problem, make_org, owner_sql
from tests.support.database import TestDatabase

ISSUER = "rls-iam"
AUDIENCE = "rls-iam-api"
REQUIRED = ["sub", "org_id", "sid", "iat", "nbf", "exp", "iss", "aud", "jti"]


@pytest.fixture(scope="module")
def tenant(client: TestClient) -> Org:
    return make_org(client, "token-admin", "Tokens")


def claims_of(actor: Actor, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": actor.user_id,
        "org_id": actor.org_id,
        "sid": actor.session_id,
        "roles": ["ORG_ADMIN"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return claims


def sign(claims: dict[str, Any], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def without(name: str) -> Callable[[Actor], str]:
    def build(actor: Actor) -> str:
        claims = claims_of(actor)
        del claims[name]
        return sign(claims)

    return build


BAD_TOKENS: dict[str, Callable[[Actor], str]] = {
    "alg_none": lambda a: unsigned(claims_of(a)),
    "alg_none_uppercase": lambda a: f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(claims_of(a))}.",
    "hs512_same_secret": lambda a: sign(claims_of(a), algorithm="HS512"),
    "hs384_same_secret": lambda a: sign(claims_of(a), algorithm="HS384"),
    "wrong_key": lambda a: sign(claims_of(a), key="another-secret-" + "y" * 40),
    "tampered_payload": lambda a: _swap_payload(
        sign(claims_of(a)), claims_of(a, sub=str(uuid.uuid4()))
    ),
    "expired": lambda a: sign(
        claims_of(
            a, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600
        )
    ),
    "expired_beyond_leeway": lambda a: sign(claims_of(a, exp=int(time.time()) - 45)),
    "nbf_in_future": lambda a: sign(claims_of(a, nbf=int(time.time()) + 3600)),
    "iat_in_future": lambda a: sign(claims_of(a, iat=int(time.time()) + 3600)),
    "wrong_iss": lambda a: sign(claims_of(a, iss="someone-else")),
    "wrong_aud": lambda a: sign(claims_of(a, aud="another-api")),
    "aud_list_without_ours": lambda a: sign(claims_of(a, aud=["another-api"])),
    **{f"missing_{name}": without(name) for name in REQUIRED},
    "empty_jti": lambda a: sign(claims_of(a, jti="")),
    "non_uuid_sub": lambda a: sign(claims_of(a, sub="not-a-uuid")),
    "numeric_sub": lambda a: sign(claims_of(a, sub=12345)),
    "non_uuid_org_id": lambda a: sign(claims_of(a, org_id="not-a-uuid")),
    "sql_in_org_id": lambda a: sign(claims_of(a, org_id="' or 1=1 --")),
    "string_exp": lambda a: sign(claims_of(a, exp="tomorrow")),
    "non_uuid_sid": lambda a: sign(claims_of(a, sid="not-a-uuid")),
    "null_sid": lambda a: sign(claims_of(a, sid=None)),
    "unknown_sid": lambda a: sign(claims_of(a, sid=str(uuid.uuid4()))),
    # Lifetime cap: 900 s TTL + 10 s leeway is the longest a token may live.
    "lifetime_beyond_ttl": lambda a: sign(claims_of(a, exp=int(time.time()) + 911)),
    "lifetime_of_a_year": lambda a: sign(claims_of(a, exp=int(time.time()) + 365 * 86400)),
    "lifetime_beyond_ttl_backdated": lambda a: sign(
        claims_of(a, iat=int(time.time()) - 3600, nbf=int(time.time()) - 3600)
        | {"exp": int(time.time()) + 60}
    ),
    "jku_header": lambda a: jwt.encode(
        claims_of(a), TEST_SECRET, algorithm="HS256", headers={"jku": "https://evil.example/k"}
    ),
    "garbage": lambda a: "garbage",
    "three_garbage_parts": lambda a: "abc.def.ghi",
    "empty_signature": lambda a: sign(claims_of(a)).rsplit(".", 1)[0] + ".",
    "over_8kb": lambda a: sign(claims_of(a, padding="x" * 9000)),
}


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(claims)}.{signature}"


def test_forged_tokens_are_accepted_when_nothing_is_wrong(client: TestClient, tenant: Org) -> None:
    """The baseline every bad-token case departs from."""
    token = sign(claims_of(tenant.admin))
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == tenant.admin.user_id


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_token_is_401(client: TestClient, tenant: Org, kind: str) -> None:
    token = BAD_TOKENS[kind](tenant.admin)
    for method, path in (
        ("GET", "/auth/me"),
        ("GET", "/projects"),
        ("DELETE", f"/projects/{tenant.project_id}"),
    ):
        response = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
    assert (
        client.get(f"/projects/{tenant.project_id}", headers=tenant.admin.headers).status_code
        == 200
    )


AUTHORIZATION_HEADERS = {
    "no_header": None,
    "empty": "",
    "scheme_only": "Bearer",
    "scheme_and_space": "Bearer ",
    "basic_scheme": "Basic dXNlcjpwYXNz",
    "token_scheme": "Token {token}",
    "no_scheme": "{token}",
}


@pytest.mark.parametrize("kind", list(AUTHORIZATION_HEADERS))
def test_malformed_authorization_header_is_401(client: TestClient, tenant: Org, kind: str) -> None:
    template = AUTHORIZATION_HEADERS[kind]
    headers = (
        {} if template is None else {"Authorization": template.format(token=tenant.admin.token)}
    )
    response = client.get("/projects", headers=headers)
    assert_problem(response, 401)


def test_bearer_scheme_is_case_insensitive(client: TestClient, tenant: Org) -> None:
    response = client.get("/auth/me", headers={"Authorization": f"bearer {tenant.admin.token}"})
    assert response.status_code == 200, response.text


def test_token_expired_within_leeway_is_still_accepted(client: TestClient, tenant: Org) -> None:
    token = sign(claims_of(tenant.admin, exp=int(time.time()) - 2))
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


def test_token_of_unknown_user_is_401(client: TestClient, tenant: Org) -> None:
    token = sign(claims_of(tenant.admin, sub=str(uuid.uuid4())))
    response = client.get("/projects", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)


def test_validly_signed_token_for_a_foreign_organization_is_403(
    client: TestClient, tenant: Org, other_org: Org
) -> None:
    """The token names an organization the user is not a member of: the database says no."""
    token = sign(claims_of(tenant.admin, org_id=other_org.admin.org_id))
    headers = {"Authorization": f"Bearer {token}"}
    assert_problem(client.get("/projects", headers=headers), 403)
    assert_problem(client.get(f"/projects/{other_org.project_id}", headers=headers), 403)
    assert_problem(client.delete(f"/projects/{other_org.project_id}", headers=headers), 403)
    assert (
        client.get(f"/projects/{other_org.project_id}", headers=other_org.admin.headers).status_code
        == 200
    )


def test_token_of_deactivated_user_is_401(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    owner_sql(database, "update iam.users set is_active = false where id = %s", (org.user.user_id,))
    response = client.get("/projects", headers=org.user.headers)
    assert_problem(response, 401)
    assert_problem(client.post("/projects", json={"name": "x"}, headers=org.user.headers), 401)


def test_roles_claim_is_informational_only(client: TestClient, tenant: Org) -> None:
    """A READ_ONLY member holding a validly signed token that says ORG_ADMIN gains nothing."""
    token = sign(claims_of(tenant.read_only, roles=["ORG_ADMIN"]))
    response = client.delete(
        f"/projects/{tenant.project_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 403)
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "READ_ONLY"


def test_issued_token_is_hs256_with_every_claim(client: TestClient, tenant: Org) -> None:
    header = jwt.get_unverified_header(tenant.user.token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(tenant.user.token, TEST_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert set(REQUIRED) <= set(claims)
    assert (claims["sub"], claims["org_id"]) == (tenant.user.user_id, tenant.user.org_id)
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert claims["roles"] == ["ORG_USER"]
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] <= claims["iat"] + 1


def test_token_living_exactly_ttl_plus_leeway_is_accepted(client: TestClient, tenant: Org) -> None:
    """The lifetime cap's boundary: 900 s TTL + 10 s leeway passes, one second more does not."""
    now = int(time.time())
    at_cap = sign(claims_of(tenant.admin, iat=now, nbf=now, exp=now + 910))
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {at_cap}"}).status_code == 200
    beyond = sign(claims_of(tenant.admin, iat=now, nbf=now, exp=now + 911))
    assert_problem(client.get("/auth/me", headers={"Authorization": f"Bearer {beyond}"}), 401)
