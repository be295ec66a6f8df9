"""argon2id password hashing, off the event loop, with a constant-time path for unknown emails."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1

T = TypeVar("T")

# Hashing is CPU-bound and takes 19 MiB each time: more hashes at once than
# cores only queue in memory. One small executor per process bounds both.
_HASHING = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


def _return_large_buffers_to_the_system() -> None:
    """Keep glibc from caching argon2's 19 MiB buffers in its heap.

    glibc raises its mmap threshold after a large mmapped block is freed, so
    later 19 MiB blocks come from the heap and are never given back: a
    worker's memory then grows with every login burst. A fixed threshold
    keeps such blocks mmapped, and freed for real.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc
    m_mmap_threshold = -3
    mallopt(m_mmap_threshold, 128 * 1024)


_return_large_buffers_to_the_system()


async def _off_loop(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, function, *args)


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
        return await _off_loop(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; an unknown user (None) verifies the dummy and fails."""
        target = stored_hash or self.dummy_hash
        ok = await _off_loop(self._verify, target, password)
        return ok and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
