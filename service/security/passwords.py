"""argon2id password hashing, off the event loop, with a constant-time path for unknown emails."""

from __future__ import annotations

import asyncio
import functools
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


def hashing_threads(workers: int) -> int:
    """Hashing threads per worker: the machine's cores shared by its workers, at least two.

    Hashing is CPU-bound and takes 19 MiB each time: more hashes at once than
    cores only queue in memory. Two at least, because the workers of one
    server do not share connections evenly, and a busy worker may use a core
    another worker leaves idle.
    """
    cores = os.cpu_count() or 1
    return max(2, -(-cores // max(1, workers)))


# glibc's defaults are kept on purpose: once a 19 MiB block has been freed,
# glibc serves the next one from the freeing thread's arena and keeps it
# there, so each hashing thread holds one buffer for good. That is a bounded
# cost per worker (threads x 19 MiB), and it spares every hash the 4,864
# page faults of a fresh mapping: a quarter of its CPU time. So the threads
# live as long as the process, shared by every Passwords in it.
@functools.cache
def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")


_warmed: set[int] = set()


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
    threads: int = field(default_factory=lambda: hashing_threads(1))

    def __post_init__(self) -> None:
        if not self.dummy_hash:
            self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    async def warm_up(self) -> None:
        """One verification on each hashing thread at once, so that every thread
        holds its buffer, and the worker its full memory, before the first login.

        Once per process: the threads outlive apps and event loops (a
        serverless runtime may run the lifespan for every request).
        """
        if self.threads in _warmed:
            return
        _warmed.add(self.threads)
        await asyncio.gather(
            *(self._off_loop(self._verify, self.dummy_hash, "warm") for _ in range(self.threads))
        )

    async def _off_loop(self, function: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor(self.threads), function, *args)

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; an unknown user (None) verifies the dummy and fails."""
        target = stored_hash or self.dummy_hash
        ok = await self._off_loop(self._verify, target, password)
        return ok and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
