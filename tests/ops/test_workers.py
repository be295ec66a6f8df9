"""`rls-iam serve --workers 2`: two worker processes, each with the app loaded, serving together."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest

from tests.support.api import register
from tests.support.logs import parse_log
from tests.support.processes import ApiServer, server_env

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a Test* class.
    from tests.support.database import TestDatabase

pytestmark = [pytest.mark.processes, pytest.mark.slow]

WORKERS = 2
CLIENT_TIMEOUT = 15.0
PARALLEL_REQUESTS = 20


def worker_processes(server: ApiServer) -> list[psutil.Process]:
    """uvicorn's workers: spawned children (multiprocessing's resource tracker is not one)."""
    assert server.process is not None
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


@pytest.fixture(scope="module")
def server(ops_database: TestDatabase) -> Iterator[ApiServer]:
    api = ApiServer(env=server_env(ops_database.conninfo, LOG_LEVEL="info"), workers=WORKERS)
    api.start()
    yield api
    api.stop()
    shutil.rmtree(api.workdir, ignore_errors=True)


def started_workers(server: ApiServer) -> set[int]:
    """Worker pids whose app finished its start-up, read from the JSON log."""
    entries = parse_log(server.log_path.read_text(errors="replace"))
    started = {
        int(match.group(1))
        for e in entries
        if (match := re.fullmatch(r"Started server process \[(\d+)\]", e["msg"]))
    }
    complete = sum(e["msg"] == "Application startup complete." for e in entries)
    return started if complete == len(started) else set()


def test_serve_with_two_workers_runs_two_worker_processes(server: ApiServer) -> None:
    workers = worker_processes(server)
    assert len(workers) == WORKERS, [w.cmdline() for w in workers]
    # Both loaded the app (the readiness poll only proves that one did).
    deadline = time.monotonic() + 20
    while started_workers(server) != {w.pid for w in workers}:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.1)


def test_two_workers_serve_parallel_requests(server: ApiServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as http:
        actor = register(http, "workers")  # type: ignore[arg-type]

    def fetch(_: int) -> int:
        # A connection of its own each: the kernel hands them to either worker.
        with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as client:
            return client.get("/projects", headers=actor.headers).status_code

    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        statuses = list(pool.map(fetch, range(PARALLEL_REQUESTS), timeout=60))
    assert statuses == [200] * PARALLEL_REQUESTS


def test_sigterm_to_serve_alone_stops_its_workers(ops_database: TestDatabase) -> None:
    # As a container runtime does: the signal goes to the main process only, not its group.
    api = ApiServer(env=server_env(ops_database.conninfo), workers=WORKERS)
    api.start()
    assert api.process is not None
    try:
        workers = worker_processes(api)
        assert len(workers) == WORKERS
        os.kill(api.process.pid, signal.SIGTERM)
        api.process.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], "workers outlived `rls-iam serve`"
    finally:
        api.stop()
        shutil.rmtree(api.workdir, ignore_errors=True)
