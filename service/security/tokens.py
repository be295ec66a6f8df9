"""Access tokens: HS256 JWTs with every registered claim checked (CONTRACT §4)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 8 * 1024
REQUIRED_CLAIMS = ["sub", "org_id", "iat", "nbf", "exp", "iss", "aud", "jti"]


class InvalidToken(Exception):
    """Any reason a token is not accepted; the reason is never shown to the client."""


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    org_id: uuid.UUID
    jti: str


@dataclass(frozen=True)
class TokenService:
    secret: str
    previous_secrets: tuple[str, ...]
    issuer: str
    audience: str
    ttl_seconds: int
    leeway_seconds: int

    def issue(self, user_id: uuid.UUID, org_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "org_id": str(org_id),
            # Informational only: policies read the role from the database.
            "roles": [role],
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token too large")
        for secret in (self.secret, *self.previous_secrets):
            try:
                # One parse: header and claims together. algorithms=[HS256]
                # already refuses "none" and every other algorithm.
                decoded = jwt.decode_complete(
                    token,
                    secret,
                    algorithms=[ALGORITHM],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway_seconds,
                    options={"require": REQUIRED_CLAIMS, "verify_iat": True},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise InvalidToken("claims") from exc
            # No header that names or points at other keys: there is one key
            # (plus the previous one), never chosen by the token.
            if {"kid", "jku", "x5u", "jwk", "x5c"} & decoded["header"].keys():
                raise InvalidToken("header")
            return _claims(decoded["payload"])
        raise InvalidToken("signature")


def _claims(payload: dict[str, object]) -> Claims:
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        org_id = uuid.UUID(str(payload["org_id"]))
    except ValueError as exc:
        raise InvalidToken("ids") from exc
    jti = payload["jti"]
    if not isinstance(jti, str) or not jti:
        raise InvalidToken("jti")
    return Claims(user_id=user_id, org_id=org_id, jti=jti)
