"""Faults: the database goes away and comes back, a write is killed midway, SQL runs too long.

Each test runs the real `rls-iam serve` against a PostgreSQL server of its
own (tests/support/processes.py), so stopping that server disturbs
nothing else. Every HTTP call carries a client timeout, so a hang fails the
test instead of stalling it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.support.api import PASSWORD, invite, register, unique_email
from tests.support.database import migrate
from tests.support.processes import ApiServer, ThrowawayPostgres, server_env

pytestmark = [pytest.mark.processes, pytest.mark.slow]

DATABASE = "rls_iam"
FAST = 2.0  # seconds: the longest any request may take while the database is down
RECOVERY_BOUND = 5.0
CLIENT_TIMEOUT = 10.0
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres.create()
    try:
        server.start()
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        migrate(server.conninfo(DATABASE))
        yield server
    finally:
        server.destroy()


@pytest.fixture
def running(postgres: ThrowawayPostgres) -> ThrowawayPostgres:
    """The server, started again if an earlier test left it down."""
    if not (postgres.data / "postmaster.pid").exists():
        postgres.start()
    return postgres


def fault_env(postgres: ThrowawayPostgres, **overrides: str) -> dict[str, str]:
    return server_env(
        postgres.conninfo(DATABASE),
        DATABASE_POOLER="none",
        DATABASE_POOL_TIMEOUT_SECONDS="1",
        DATABASE_CONNECT_TIMEOUT_SECONDS="1",
        **overrides,
    )


@pytest.fixture(scope="module")
def api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    server = ApiServer(env=fault_env(postgres))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def impatient_api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """The same API with every request's SQL bounded to 500 ms."""
    server = ApiServer(env=fault_env(postgres, DATABASE_STATEMENT_TIMEOUT_MS="500"))
    server.start()
    yield server
    server.stop()


def client_for(server: ApiServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT)


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "detail", "request_id"}


# ------------------------------------------------------------------ outage


@dataclass(frozen=True)
class Sample:
    started: float
    elapsed: float
    status: int
    content_type: str
    body_status: int | None


def load(server: ApiServer, token: str, samples: list[Sample], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    paths = ["/projects", "/auth/me", "/members"]
    with client_for(server) as http:
        turn = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = http.get(paths[turn % len(paths)], headers=headers)
                status = response.status_code
                content_type = response.headers.get("content-type", "")
                body_status = response.json().get("status") if status >= 400 else None
            except httpx.TimeoutException:
                status, content_type, body_status = 0, "", None
            samples.append(
                Sample(started, time.monotonic() - started, status, content_type, body_status)
            )
            turn += 1
            time.sleep(0.02)


def first_ok(server: ApiServer, token: str, within: float) -> float | None:
    """When the first GET /projects answers 200, polling every 50 ms."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + within
    with client_for(server) as http:
        while time.monotonic() < deadline:
            try:
                if http.get("/projects", headers=headers, timeout=2).status_code == 200:
                    return time.monotonic()
            except httpx.TimeoutException:
                pass
            time.sleep(0.05)
    return None


@pytest.mark.parametrize(
    "outage_seconds",
    [2.0, 18.0],
)
def test_database_outage_answers_503_fast_and_the_service_recovers_without_restart(
    running: ThrowawayPostgres, api: ApiServer, outage_seconds: float
) -> None:
    with client_for(api) as http:
        admin = register(http, "outage")
        assert http.get("/readyz").status_code == 200
    samples: list[Sample] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=load, args=(api, admin.token, samples, stop), daemon=True)
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)

    running.stop("immediate")
    down_at = time.monotonic()
    try:
        time.sleep(0.5)
        with client_for(api) as http:
            health = [http.get("/healthz") for _ in range(3)]
            ready = [http.get("/readyz") for _ in range(3)]
        time.sleep(max(0.0, outage_seconds - (time.monotonic() - down_at)))
    finally:
        restart_at = time.monotonic()
        running.start()
    up_at = time.monotonic()
    recovered_at = first_ok(api, admin.token, within=30)
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join(timeout=CLIENT_TIMEOUT + 5)

    recovery = None if recovered_at is None else recovered_at - up_at
    during = [
        s for s in samples if down_at + 0.1 < s.started and s.started + s.elapsed < restart_at
    ]
    print(
        f"outage of {outage_seconds:.0f} s: {len(samples)} requests,"
        f" {len(during)} during the outage,"
        f" slowest {max(s.elapsed for s in samples):.3f} s;"
        f" statuses {sorted({s.status for s in samples})};"
        f" PostgreSQL took {up_at - restart_at:.3f} s to start again, and the API"
        f" recovered {recovery if recovery is None else round(recovery, 3)} s after that"
    )
    assert not any(worker.is_alive() for worker in workers), "a client hung"
    assert [r.status_code for r in health] == [200, 200, 200]
    for response in ready:
        assert_problem(response, 503)
    # Every client was answered during the outage, not just left waiting.
    assert len(during) >= len(workers)
    for sample in during:
        assert sample.status == 503, sample
        assert sample.content_type.startswith(PROBLEM_JSON), sample
        assert sample.body_status == 503, sample
    assert all(s.elapsed < FAST for s in samples), max(samples, key=lambda s: s.elapsed)
    assert {s.status for s in samples} <= {200, 503}
    assert recovery is not None and recovery < RECOVERY_BOUND
    with client_for(api) as http:
        assert http.get("/readyz").status_code == 200


# ------------------------------------------------------------- atomic writes


def blocked_backend(monitor: psycopg.Connection[tuple[object, ...]], fragment: str) -> int:
    """The API's backend waiting on a lock while running SQL that contains fragment."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = monitor.execute(
            "select pid from pg_stat_activity where datname = current_database()"
            " and application_name = 'rls-iam' and wait_event_type = 'Lock'"
            " and position(%s in query) > 0",
            (fragment,),
        ).fetchone()
        if row is not None:
            return int(str(row[0]))
        time.sleep(0.02)
    raise AssertionError(f"no API backend blocked in {fragment!r}")


def holds_lock(monitor: psycopg.Connection[tuple[object, ...]], pid: int, table: str) -> bool:
    row = monitor.execute(
        "select exists (select 1 from pg_locks where pid = %s and granted"
        " and relation = %s::regclass and mode = 'RowExclusiveLock')",
        (pid, table),
    ).fetchone()
    return bool(row and row[0])


def orphans(conninfo: str) -> tuple[int, int]:
    """Users without any membership, organizations without any member."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select (select count(*) from iam.users as u where not exists"
            "          (select 1 from iam.organization_memberships as m where m.user_id = u.id)),"
            "       (select count(*) from iam.organizations as o where not exists"
            "          (select 1 from iam.organization_memberships as m"
            "           where m.organization_id = o.id))"
        ).fetchone()
    assert row is not None
    return int(str(row[0])), int(str(row[1]))


def post_register(http: httpx.Client, email: str) -> httpx.Response:
    return http.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Half Made"},
    )


def test_register_killed_after_creating_the_user_leaves_nothing_behind(
    running: ThrowawayPostgres, api: ApiServer
) -> None:
    conninfo = running.conninfo(DATABASE)
    email = unique_email("killed")
    assert orphans(conninfo) == (0, 0)
    with (
        client_for(api) as http,
        ThreadPoolExecutor(1) as pool,
        psycopg.connect(conninfo) as blocker,
        psycopg.connect(conninfo, autocommit=True) as monitor,
    ):
        # SHARE mode lets reads through and stops inserts: iam.register
        # creates the user, then waits to create the organization.
        blocker.execute("lock table iam.organizations in share mode")
        pending: Future[httpx.Response] = pool.submit(post_register, http, email)
        pid = blocked_backend(monitor, "iam.register")
        assert holds_lock(monitor, pid, "iam.users"), "register had not created the user yet"
        monitor.execute("select pg_terminate_backend(%s)", (pid,))
        response = pending.result(timeout=CLIENT_TIMEOUT)
        blocker.rollback()

        assert_problem(response, 503)
        assert orphans(conninfo) == (0, 0)
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("select count(*) from iam.users where email = %s", (email,))
            assert row.fetchone() == (0,)
        # Nothing half-made holds the email: registering again works.
        assert post_register(http, email).status_code == 201


def test_accept_killed_after_inserting_the_membership_leaves_nothing_behind(
    running: ThrowawayPostgres, api: ApiServer
) -> None:
    conninfo = running.conninfo(DATABASE)
    with (
        client_for(api) as http,
        ThreadPoolExecutor(1) as pool,
        psycopg.connect(conninfo) as blocker,
        psycopg.connect(conninfo, autocommit=True) as monitor,
    ):
        admin = register(http, "killed-accept")
        newcomer = register(http, "newcomer")
        invitation = invite(http, admin, newcomer.email, "ORG_USER")
        # Accepting marks the invitation used, then inserts the membership,
        # whose foreign key check takes FOR KEY SHARE on the newcomer's user
        # row: holding that row FOR UPDATE stops the accept right there.
        blocker.execute("select 1 from iam.users where id = %s for update", (newcomer.user_id,))
        pending: Future[httpx.Response] = pool.submit(
            http.post,
            "/invitations/accept",
            json={"token": invitation["token"]},
            headers=newcomer.headers,
        )
        pid = blocked_backend(monitor, "iam.accept_invitation")
        waits_for = monitor.execute("select pg_blocking_pids(%s)", (pid,)).fetchone()
        assert waits_for is not None and waits_for[0] == [blocker.info.backend_pid]
        monitor.execute("select pg_terminate_backend(%s)", (pid,))
        response = pending.result(timeout=CLIENT_TIMEOUT)
        blocker.rollback()

        assert_problem(response, 503)
        members = http.get("/members", headers=admin.headers).json()["items"]
        assert [m["email"] for m in members] == [admin.email]
        assert orphans(conninfo) == (0, 0)
        # The invitation was not spent: accepting again works.
        retried = http.post(
            "/invitations/accept", json={"token": invitation["token"]}, headers=newcomer.headers
        )
        assert retried.status_code == 200, retried.text


# ---------------------------------------------------------- statement timeout


def test_statement_timeout_bounds_a_request_blocked_by_a_lock(
    running: ThrowawayPostgres, impatient_api: ApiServer
) -> None:
    conninfo = running.conninfo(DATABASE)
    with client_for(impatient_api) as http, psycopg.connect(conninfo) as blocker:
        admin = register(http, "impatient")
        blocker.execute("lock table iam.projects in access exclusive mode")
        timings = []
        for method, path, body in (
            ("GET", "/projects", None),
            ("POST", "/projects", {"name": "Blocked"}),
        ):
            started = time.monotonic()
            response = http.request(method, path, json=body, headers=admin.headers)
            timings.append(time.monotonic() - started)
            assert_problem(response, 503)
            assert "statement" not in response.text.lower()
        blocker.rollback()
        print(
            f"statement timeout 500 ms: requests answered 503 in {[round(t, 3) for t in timings]} s"
        )

        # It waited for the timeout, not for something else, and no longer.
        assert all(0.45 < t < 1.5 for t in timings), timings
        assert http.get("/projects", headers=admin.headers).status_code == 200


def test_register_cancelled_by_the_statement_timeout_leaves_nothing_behind(
    running: ThrowawayPostgres, impatient_api: ApiServer
) -> None:
    conninfo = running.conninfo(DATABASE)
    email = unique_email("cancelled")
    with client_for(impatient_api) as http, psycopg.connect(conninfo) as blocker:
        blocker.execute("lock table iam.organizations in share mode")
        response = post_register(http, email)
        blocker.rollback()

        assert_problem(response, 503)
        assert orphans(conninfo) == (0, 0)
        assert post_register(http, email).status_code == 201
