"""SIGTERM on `rls-iam serve`: the request in flight ends, new ones are refused, the pool closes.

The server runs against a PostgreSQL of its own (tests/support/processes.py),
so every backend named 'rls-iam' there is this server's, and that database's
log_min_messages is debug1: PostgreSQL then logs "unexpected EOF on client
connection" for every connection whose client vanished without closing it,
which tells a pool that was closed from a process that merely died.

One module fixture plays the scenario once: a request blocks on a table lock
held by the test, SIGTERM arrives, the test checks that new connections are
refused while the request still waits, then releases the lock. The tests
assert on what it recorded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from service.db.embedded import EmbeddedPostgres
from tests.support.api import register
from tests.support.database import migrate
from tests.support.processes import ApiServer, ThrowawayPostgres, server_env

pytestmark = [pytest.mark.processes, pytest.mark.slow]

DATABASE = "rls_iam"
APP_BACKENDS = (
    "select pid, wait_event_type from pg_stat_activity"
    " where datname = %s and application_name = 'rls-iam'"
)
LOCK_HELD_AFTER_SIGTERM = 1.5  # seconds the in-flight request keeps waiting after the signal
REFUSAL_BOUND = 3.0  # seconds within which the listening socket must be gone
EXIT_BOUND = 15.0  # seconds from SIGTERM to exit (the server's graceful timeout is 20)
CLIENT_TIMEOUT = 20.0


@dataclass
class Outcome:
    in_flight: httpx.Response | None
    in_flight_error: BaseException | None
    in_flight_done_before_release: bool
    refused_after: float | None
    returncode: int | None
    exited_after: float | None
    backends_before: list[int]
    backends_left: list[int]
    unexpected_eof: list[str]
    server_log: str


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres.create()
    try:
        server.start()
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
            conn.execute(f"alter database {DATABASE} set log_min_messages = debug1")
        migrate(server.conninfo(DATABASE))
        yield server
    finally:
        server.destroy()


def app_backends(postgres: ThrowawayPostgres) -> list[tuple[int, str | None]]:
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        return [(pid, wait) for pid, wait in conn.execute(APP_BACKENDS, (DATABASE,)).fetchall()]


def wait_for(condition: str, check: object, bound: float) -> None:
    deadline = time.monotonic() + bound
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.05)


def connection_refused(base_url: str) -> bool:
    try:
        # A fresh connection each time: only the listening socket is in question.
        httpx.get(f"{base_url}/healthz", timeout=0.5)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


@pytest.fixture(scope="module")
def outcome(postgres: ThrowawayPostgres) -> Iterator[Outcome]:
    log_start = (postgres.root / "server.log").stat().st_size
    server = ApiServer(
        env=server_env(
            postgres.conninfo(DATABASE),
            DATABASE_POOLER="none",
            LOG_LEVEL="info",
            # The in-flight request waits on a lock longer than the default deadline.
            DATABASE_DEADLINE_SECONDS="10",
        )
    )
    server.start()
    assert server.process is not None
    with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as http:
        actor = register(http, "shutdown")  # type: ignore[arg-type]

    holder = psycopg.connect(postgres.conninfo(DATABASE))
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        holder.execute("lock table iam.projects in access exclusive mode")

        def slow_request() -> httpx.Response:
            with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as client:
                return client.get("/projects", headers=actor.headers)

        future = executor.submit(slow_request)
        wait_for(
            "the request to wait on the lock",
            lambda: any(wait == "Lock" for _, wait in app_backends(postgres)),
            10.0,
        )
        backends_before = [pid for pid, _ in app_backends(postgres)]

        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        refused_after: float | None = None
        while time.monotonic() - signalled < REFUSAL_BOUND:
            if connection_refused(server.base_url):
                refused_after = time.monotonic() - signalled
                break
            time.sleep(0.05)
        time.sleep(max(0.0, LOCK_HELD_AFTER_SIGTERM - (time.monotonic() - signalled)))
        done_before_release = future.done()
        holder.rollback()

        in_flight: httpx.Response | None = None
        in_flight_error: BaseException | None = None
        try:
            in_flight = future.result(timeout=CLIENT_TIMEOUT)
        except Exception as error:
            in_flight_error = error

        returncode: int | None
        try:
            returncode = server.process.wait(
                timeout=max(0.1, EXIT_BOUND - (time.monotonic() - signalled))
            )
            exited_after: float | None = time.monotonic() - signalled
        except subprocess.TimeoutExpired:
            returncode, exited_after = None, None

        # A backend may take a moment to notice its client is gone.
        deadline = time.monotonic() + 5.0
        left = [pid for pid, _ in app_backends(postgres)]
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [pid for pid, _ in app_backends(postgres)]

        with open(postgres.root / "server.log", errors="replace") as log:
            log.seek(log_start)
            eof = [line for line in log if "unexpected EOF on client connection" in line]

        yield Outcome(
            in_flight=in_flight,
            in_flight_error=in_flight_error,
            in_flight_done_before_release=done_before_release,
            refused_after=refused_after,
            returncode=returncode,
            exited_after=exited_after,
            backends_before=backends_before,
            backends_left=left,
            unexpected_eof=eof,
            server_log=server.log_tail(6000),
        )
    finally:
        holder.close()
        executor.shutdown(wait=False, cancel_futures=True)
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def test_in_flight_request_completes_with_200_after_sigterm(outcome: Outcome) -> None:
    assert not outcome.in_flight_done_before_release, "the request did not wait for the lock"
    assert outcome.in_flight_error is None, repr(outcome.in_flight_error)
    assert outcome.in_flight is not None
    assert outcome.in_flight.status_code == 200, outcome.in_flight.text
    assert outcome.in_flight.json()["items"] == []


def test_new_connections_are_refused_once_sigterm_arrives(outcome: Outcome) -> None:
    # While the in-flight request still waits: the socket closes first, the drain follows.
    assert outcome.refused_after is not None, "connections were still accepted after SIGTERM"
    assert outcome.refused_after < LOCK_HELD_AFTER_SIGTERM


def test_process_exits_within_a_bounded_time(outcome: Outcome) -> None:
    assert outcome.exited_after is not None, f"still running {EXIT_BOUND}s after SIGTERM"
    assert outcome.exited_after < EXIT_BOUND


def test_process_exits_with_status_zero(outcome: Outcome) -> None:
    assert outcome.returncode == 0, f"exit status {outcome.returncode}\n{outcome.server_log}"


def test_pool_is_closed_not_abandoned(outcome: Outcome) -> None:
    assert outcome.backends_before, "the server held no connection during the request"
    assert outcome.backends_left == [], "backends of the stopped server are still there"
    # Each pooled connection said goodbye; a dropped one leaves this line.
    assert outcome.unexpected_eof == [], outcome.unexpected_eof


def test_shutdown_is_logged_after_the_in_flight_access_line(outcome: Outcome) -> None:
    lines = outcome.server_log.splitlines()
    served = [i for i, line in enumerate(lines) if '"route":"/projects","status":200' in line]
    finished = [i for i, line in enumerate(lines) if "Application shutdown complete" in line]
    assert served and finished, outcome.server_log
    assert served[-1] < finished[-1]


# ------------------------------------------------------------ embedded server


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    # Under /tmp and world-traversable: the embedded server runs as its own
    # system user when we are root, and never changes a parent's permissions.
    root = Path(tempfile.mkdtemp(prefix="rls-iam-ops-embedded-", dir="/tmp"))
    root.chmod(0o755)
    data_dir = root / "data"
    yield data_dir
    EmbeddedPostgres(data_dir).stop()
    shutil.rmtree(root, ignore_errors=True)


def test_sigterm_stops_the_embedded_postgres_that_serve_started(embedded_data_dir: Path) -> None:
    # No DATABASE_URL: serve starts, migrates and (on the way out) must stop its own server.
    server = ApiServer(
        env={"APP_ENV": "test", "RLS_IAM_DATA_DIR": str(embedded_data_dir), "LOG_LEVEL": "warning"}
    )
    server.start(ready_within=120.0)
    assert server.process is not None
    embedded = EmbeddedPostgres(embedded_data_dir)
    try:
        assert embedded.is_running()
        os.kill(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=EXIT_BOUND)
        assert not embedded.is_running(), "the embedded PostgreSQL outlived `rls-iam serve`"
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
