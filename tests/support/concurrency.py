"""Races: the same work in many threads, released at one instant."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(
    work: Callable[[T], R], inputs: Sequence[T], *, timeout: float = 60.0
) -> list[R]:
    """work(item) for every item, each in its own thread, all released at the same instant."""
    start = threading.Barrier(len(inputs))

    def released(item: T) -> R:
        start.wait(timeout=timeout)
        return work(item)

    with ThreadPoolExecutor(max_workers=len(inputs)) as pool:
        futures = [pool.submit(released, item) for item in inputs]
        return [future.result(timeout=timeout) for future in futures]
