"""Access tokens: HS256 JWTs with every registered claim checked, and a bounded lifetime."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field

import jwt

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 8 * 1024
# org_id may be null (a user who belongs to no organization), so its presence
# is checked in _claims: PyJWT's "require" refuses a null claim.
REQUIRED_CLAIMS = ["sub", "sid", "iat", "nbf", "exp", "iss", "aud", "jti"]
# Tokens already verified, by their exact text: a client sends the same token
# on every request until it expires, and PyJWT's checks cost more than the
# rest of a typical request's Python work. Oldest first out beyond this.
VERIFIED_CACHE_SIZE = 4096
REFRESH_TOKEN_BYTES = 32


class InvalidToken(Exception):
    """Any reason a token is not accepted; the reason is never shown to the client."""


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    org_id: uuid.UUID | None
    session_id: uuid.UUID
    jti: str
    expires_at: int


@dataclass(frozen=True)
class TokenService:
    secret: str
    previous_secrets: tuple[str, ...]
    issuer: str
    audience: str
    ttl_seconds: int
    leeway_seconds: int
    # Only tokens that passed every check, with the secrets above; a
    # process's secrets never change, so neither does a signature's verdict.
    # Time does: a hit is checked against exp again. Whether the token's
    # session is still live is never cached: the database answers that on
    # every request (docs/sessions.md), so a cached token of an ended
    # session is refused on its next request like any other.
    _verified: dict[str, Claims] = field(default_factory=dict, repr=False, compare=False)

    def issue(
        self, user_id: uuid.UUID, org_id: uuid.UUID | None, role: str | None, session_id: uuid.UUID
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "org_id": None if org_id is None else str(org_id),
            "sid": str(session_id),
            # Informational only: policies read the role from the database.
            "roles": [] if role is None else [role],
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
        cached = self._verified.get(token)
        if cached is not None:
            # PyJWT's rule: expired once exp <= now - leeway.
            if cached.expires_at > time.time() - self.leeway_seconds:
                return cached
            self._verified.pop(token, None)
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified), ""), None)
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Claims:
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
            return _claims(decoded["payload"], self.ttl_seconds + self.leeway_seconds)
        raise InvalidToken("signature")


def _claims(payload: dict[str, object], max_lifetime: int) -> Claims:
    if "org_id" not in payload:
        raise InvalidToken("org_id")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        org = payload["org_id"]
        org_id = None if org is None else uuid.UUID(str(org))
        session_id = uuid.UUID(str(payload["sid"]))
    except ValueError as exc:
        raise InvalidToken("ids") from exc
    jti = payload["jti"]
    if not isinstance(jti, str) or not jti:
        raise InvalidToken("jti")
    try:
        # PyJWT has read exp the same way when it checked it.
        expires_at = int(payload["exp"])  # type: ignore[call-overload]
        issued_at = int(payload["iat"])  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise InvalidToken("exp") from exc
    # A token that would live longer than this service ever issues is not
    # one of its own, whatever its signature says (a leaked signing key
    # should not mint tokens good for a year).
    if expires_at - issued_at > max_lifetime:
        raise InvalidToken("lifetime")
    return Claims(
        user_id=user_id, org_id=org_id, session_id=session_id, jti=jti, expires_at=expires_at
    )


def new_refresh_token() -> str:
    """An opaque refresh token: 256 bits from the OS's CSPRNG, URL-safe.

    The database keeps only its SHA-256 digest; the client sees it once.
    """
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
