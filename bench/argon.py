"""The argon2 limit: how many password hashes per second this machine computes on all cores."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

from argon2 import PasswordHasher

from service.security.passwords import MEMORY_COST_KIB, PARALLELISM, TIME_COST


def _hash_for(seconds: float) -> tuple[int, float, float]:
    hasher = PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
    )
    stored = hasher.hash("bench-password-0123")
    count = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        # A login verifies: the same work as hashing, with these parameters.
        hasher.verify(stored, "bench-password-0123")
        count += 1
    return count, time.perf_counter() - started, time.process_time() - cpu


def hash_rate(seconds: float, processes: int | None = None) -> tuple[float, float]:
    """Verifications per second with the API's parameters, one process per core, and the
    CPU milliseconds one verification takes."""
    workers = processes or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_hash_for, [seconds] * workers))
    rate = sum(count / elapsed for count, elapsed, _ in results)
    cpu_ms = sum(cpu for _, _, cpu in results) * 1000 / max(1, sum(c for c, _, _ in results))
    return rate, cpu_ms
