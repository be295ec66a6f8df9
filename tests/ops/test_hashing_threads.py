"""Password hashing threads per worker: the cores shared by the workers, never fewer than two.

Each thread keeps a 19 MiB buffer for the life of its process, so the count
bounds a worker's memory as well as its parallel hashing.
"""

from __future__ import annotations

import asyncio

import pytest

from service.security import passwords
from service.security.passwords import Passwords, hashing_threads


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [
        (2, 1, 2),
        (2, 2, 2),  # two at least: workers do not share connections evenly
        (1, 1, 2),
        (16, 1, 16),
        (16, 3, 6),  # rounded up: together the workers can use every core
        (16, 16, 2),
        (64, 64, 2),
    ],
)
def test_threads_share_the_cores_among_workers(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr(passwords.os, "cpu_count", lambda: cores)
    assert hashing_threads(workers) == threads


def test_hashing_runs_on_at_most_that_many_threads() -> None:
    hasher = Passwords(threads=2)
    stored = asyncio.run(hasher.hash("correct horse battery"))

    async def verify_many() -> list[bool]:
        await hasher.warm_up()
        return await asyncio.gather(
            *(hasher.verify(stored, "correct horse battery") for _ in range(6))
        )

    assert asyncio.run(verify_many()) == [True] * 6
    executor = passwords._executor(2)
    assert len(executor._threads) == 2
