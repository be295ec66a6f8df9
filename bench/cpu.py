"""CPU time per request, of the API's workers and of PostgreSQL.

Throughput on a shared machine moves with whatever else runs; the CPU time a
request costs moves much less, so the report shows both.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil  # type: ignore[import-untyped]

Processes = Callable[[], list[psutil.Process]]


def postgres_backends(dbname: str) -> list[psutil.Process]:
    """Local server processes connected to dbname (none when the server is remote)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        if title.startswith("postgres: ") and f" {dbname} " in f"{title} ":
            found.append(process)
    return found


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


class CpuMeter:
    """CPU seconds used by a changing set of processes between start() and stop()."""

    def __init__(self, processes: Processes) -> None:
        self._processes = processes
        self._before: dict[int, float] = {}

    def start(self) -> None:
        self._before = _cpu(self._processes())

    def stop(self) -> float | None:
        """Seconds used since start(); None when there was no process to measure."""
        after = _cpu(self._processes())
        if not after:
            return None
        # A process that started meanwhile (a new pooled connection) counts in full.
        return sum(value - self._before.get(pid, 0.0) for pid, value in after.items())
