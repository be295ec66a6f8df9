"""argon2id password hashing, off the event loop, with a constant-time path for unknown emails."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


@dataclass
class Passwords:
    hasher: PasswordHasher = field(
        default_factory=lambda: PasswordHasher(
            time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
        )
    )
    # Verified instead of a real hash when the email is unknown, so that an
    # unknown email costs the same time as a wrong password.
    dummy_hash: str = ""

    def __post_init__(self) -> None:
        if not self.dummy_hash:
            self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; an unknown user (None) verifies the dummy and fails."""
        target = stored_hash or self.dummy_hash
        ok = await anyio.to_thread.run_sync(self._verify, target, password)
        return ok and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
