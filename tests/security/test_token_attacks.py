"""Token attacks beyond the basics: header injection, algorithm confusion, size, deleted users,
secret rotation. Every forged token must get 401 with WWW-Authenticate."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from tests.support.api import (
    TEST_SECRET,
    Org,
    accept,
    invite,
    make_settings,
    owner_sql,
    register,
)
from tests.support.attacks import app_client, bearer, forge, token_service, valid_claims
from tests.support.database import TestDatabase

RIGHT_KEY = TEST_SECRET.encode()
HS256 = {"alg": "HS256", "typ": "JWT"}


def assert_rejected(client: TestClient, token: str, path: str = "/auth/me") -> None:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 401, (path, response.status_code, response.text)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


def test_a_forged_token_with_the_right_key_and_plain_header_is_accepted(
    client: TestClient, org: Org
) -> None:
    """The control: forge() makes tokens the API accepts, so every rejection below is real."""
    token = forge(
        HS256, valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id), RIGHT_KEY
    )
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200


# Headers that point the verifier at other keys, with the signature made with
# the key that header names (or the key an attacker hopes it resolves to).
KEY_POINTER_ATTACKS: list[tuple[str, dict[str, Any], bytes]] = [
    ("kid=/dev/null, empty key", {"kid": "../../../../../../dev/null"}, b""),
    (
        "kid=/proc/sys/kernel/randomize_va_space",
        {"kid": "/proc/sys/kernel/randomize_va_space"},
        b"2\n",
    ),
    ("kid=SQL injection", {"kid": "x' union select 'attacker-key' --"}, b"attacker-key"),
    ("kid=command injection", {"kid": "key|/usr/bin/id"}, b"key"),
    ("jku=attacker JWKS", {"jku": "https://attacker.example/jwks.json"}, b"attacker-key"),
    ("x5u=attacker cert", {"x5u": "https://attacker.example/cert.pem"}, b"attacker-key"),
    ("jwk=embedded oct key", {"jwk": {"kty": "oct", "k": "YXR0YWNrZXIta2V5"}}, b"attacker-key"),
    ("x5c=embedded cert", {"x5c": ["MIIBszCCAVmgAwIBAgIU"]}, b"attacker-key"),
]


@pytest.mark.parametrize(
    ("extra", "key"),
    [(extra, key) for _, extra, key in KEY_POINTER_ATTACKS],
    ids=[name for name, _, _ in KEY_POINTER_ATTACKS],
)
def test_key_pointer_header_signed_with_the_pointed_key_gets_401(
    client: TestClient, org: Org, extra: dict[str, Any], key: bytes
) -> None:
    token = forge(
        {**HS256, **extra},
        valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id),
        key,
    )
    assert_rejected(client, token)


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_pointer_header_gets_401_even_with_the_right_signature(
    client: TestClient, org: Org, name: str
) -> None:
    value: Any = {"kty": "oct", "k": "eA"} if name == "jwk" else "https://attacker.example/k"
    token = forge(
        {**HS256, name: value},
        valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id),
        RIGHT_KEY,
    )
    assert_rejected(client, token)


def test_kid_header_gets_401_even_with_the_right_signature(client: TestClient, org: Org) -> None:
    token = forge(
        {**HS256, "kid": "../../../../dev/null"},
        valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id),
        RIGHT_KEY,
    )
    assert_rejected(client, token)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_hs256_signed_with_a_public_key_pem_gets_401(
    client: TestClient, org: Org, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The classic confusion: a verifier that takes 'the key' for HS256 would accept this."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id)
    for key in (pem, pem.strip(), pem.replace(b"\n", b"")):
        assert_rejected(client, forge(HS256, claims, key))


def test_rs256_tokens_get_401(client: TestClient, org: Org, rsa_key: rsa.RSAPrivateKey) -> None:
    claims = valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id)
    properly_signed = jwt.encode(claims, rsa_key, algorithm="RS256")
    # RS256 in the header, HMAC with the server's secret underneath.
    hmac_underneath = forge({"alg": "RS256", "typ": "JWT"}, claims, RIGHT_KEY)
    for token in (properly_signed, hmac_underneath):
        assert_rejected(client, token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS384", "HS512", "hs256", "ES256", ""])
def test_other_algorithm_names_get_401(client: TestClient, org: Org, alg: str) -> None:
    token = forge(
        {"alg": alg, "typ": "JWT"},
        valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id),
        RIGHT_KEY,
    )
    assert_rejected(client, token)
    unsigned = token.rsplit(".", 1)[0] + "."
    assert_rejected(client, unsigned)


@pytest.mark.parametrize("size", [8 * 1024 + 1, 64 * 1024, 1024 * 1024])
def test_oversized_token_gets_a_fast_401(client: TestClient, org: Org, size: int) -> None:
    claims = valid_claims(org.admin.user_id, org.admin.org_id, org.admin.session_id)
    claims["pad"] = "A" * size
    token = forge(HS256, claims, RIGHT_KEY)  # correctly signed: only its size is wrong
    assert len(token) > size
    assert_rejected(client, token)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get("/projects", headers=bearer(token))
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 401
    # Round trips through the in-process client bound the server's time from above.
    print(f"\n[token size {len(token)} B] 401 in median {statistics.median(timings):.1f} ms")
    assert statistics.median(timings) < 50, timings


def test_token_of_a_deleted_user_gets_401(
    client: TestClient, org: Org, database: TestDatabase
) -> None:
    victim = register(client, "deleted")
    accept(client, victim, invite(client, org.admin, victim.email, "ORG_USER")["token"])
    victim_id = uuid.UUID(victim.user_id)
    in_org = token_service().issue(
        victim_id, uuid.UUID(org.admin.org_id), "ORG_USER", uuid.UUID(victim.session_id)
    )
    assert client.get("/projects", headers=bearer(in_org)).status_code == 200
    # Their own organization goes first (they are its last admin), then the user
    # and, by cascade, the rest of their memberships.
    owner_sql(database, "delete from iam.organizations where id = %s", (victim.org_id,))
    owner_sql(database, "delete from iam.users where id = %s", (victim_id,))
    assert owner_sql(database, "select count(*) from iam.users where id = %s", (victim_id,)) == [
        (0,)
    ]
    for token in (in_org, victim.token):
        for path in ("/auth/me", "/projects", "/members", "/organizations"):
            assert_rejected(client, token, path)
        response = client.post("/projects", json={"name": "ghost"}, headers=bearer(token))
        assert response.status_code == 401


def test_secret_rotation_accepts_the_previous_secret_and_rejects_a_retired_one(
    database: TestDatabase,
) -> None:
    s1, s2, s3 = (
        ("secret-one-" + "1" * 40),
        ("secret-two-" + "2" * 40),
        ("secret-three-" + "3" * 40),
    )
    with app_client(make_settings(database, jwt_access_secret=s1)) as app_a:
        admin = register(app_a, "rotation")
        assert app_a.get("/auth/me", headers=admin.headers).status_code == 200
    with app_client(
        make_settings(database, jwt_access_secret=s2, jwt_access_secret_previous=s1)
    ) as app_b:
        response = app_b.get("/auth/me", headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == admin.user_id
        fresh = app_b.post(
            "/auth/switch-organization",
            json={"organization_id": admin.org_id},
            headers=admin.headers,
        )
        assert fresh.status_code == 200
        signed_with_s2 = fresh.json()["access_token"]
        assert jwt.get_unverified_header(signed_with_s2)["alg"] == "HS256"
        # B signs with its current secret, not the previous one.
        jwt.decode(signed_with_s2, s2, algorithms=["HS256"], audience="rls-iam-api")
    with app_client(
        make_settings(database, jwt_access_secret=s3, jwt_access_secret_previous=s2)
    ) as app_c:
        assert_rejected(app_c, admin.token)  # S1 has been rotated out
        assert app_c.get("/auth/me", headers=bearer(signed_with_s2)).status_code == 200
    print("\n[rotation] S1 accepted by (S2, prev S1); rejected by (S3, prev S2)")
