"""Failed-login limits that hold under concurrency and cannot lock an owner out.

A login reserves its failure in PostgreSQL before the password is verified,
so parallel guesses get no more password checks than the limit; the limit
refuses an (email, client) pair, while the failures of an email from every
client together only slow its logins down.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.http.state import AppState
from tests.support.api import PASSWORD, make_settings, owner_sql, unique_email
from tests.support.attacks import app_client, unique_ip
from tests.support.database import TestDatabase

FAILURE_LIMIT = 3
SLOWDOWN_MS = 400
GUESSES = 50


class CountingChecks:
    """Counts the argon2 verifications the app runs."""

    def __init__(self, state: AppState) -> None:
        self.count = 0
        self._lock = threading.Lock()
        original = state.passwords._verify

        def counted(stored_hash: str, password: str) -> bool:
            with self._lock:
                self.count += 1
            return original(stored_hash, password)

        state.passwords._verify = counted  # type: ignore[method-assign]


def _state(client: TestClient) -> AppState:
    app: Any = client.app
    while not hasattr(app, "state"):
        app = app.app
    state = app.state.rls_iam
    assert isinstance(state, AppState)
    return state


@pytest.fixture(scope="module")
def guarded(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(
        database,
        rate_limit_ip_per_minute=10_000,
        rate_limit_failed_logins_per_email=FAILURE_LIMIT,
        login_slowdown_ms=SLOWDOWN_MS,
        # A burst of 50 on a small, busy machine: wait for a connection
        # rather than shed load with 503s.
        database_pool_timeout_seconds=15,
    )
    with app_client(settings, peer_header=True) as test_client:
        yield test_client


def register(client: TestClient) -> str:
    email = unique_email("guard")
    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Guarded"},
        headers={"X-Test-Peer": unique_ip()},
    )
    assert response.status_code == 201, response.text
    return email


def login(client: TestClient, email: str, password: str, peer: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.post(
        "/auth/login", json={"email": email, "password": password}, headers={"X-Test-Peer": peer}
    )
    return response.status_code, time.perf_counter() - started


def test_parallel_guesses_get_at_most_the_limits_password_checks(guarded: TestClient) -> None:
    email = register(guarded)
    checks = CountingChecks(_state(guarded))
    attacker = unique_ip()
    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        results = list(
            pool.map(
                lambda _: login(guarded, email, "guess " + uuid.uuid4().hex, attacker)[0],
                range(GUESSES),
            )
        )
    assert checks.count == FAILURE_LIMIT
    assert sorted(results) == [401] * FAILURE_LIMIT + [429] * (GUESSES - FAILURE_LIMIT)
    print(f"\n[reservations] {GUESSES} parallel guesses: {checks.count} password checks")


def test_a_stranger_cannot_lock_the_owner_out(guarded: TestClient) -> None:
    email = register(guarded)
    stranger = unique_ip()
    statuses = [login(guarded, email, "nope " + str(i), stranger)[0] for i in range(6)]
    assert statuses == [401] * FAILURE_LIMIT + [429] * 3
    # Refused for that client, even with the right password.
    assert login(guarded, email, PASSWORD, stranger)[0] == 429
    # The owner, from a client that has not failed, gets in.
    assert login(guarded, email, PASSWORD, unique_ip())[0] == 200


def test_rotating_clients_slow_the_email_down_and_never_refuse(guarded: TestClient) -> None:
    email = register(guarded)
    timed = [login(guarded, email, "rotating " + str(i), unique_ip()) for i in range(6)]
    assert [status for status, _ in timed] == [401] * 6
    # Past the limit from all clients together, each check waits first.
    assert all(elapsed >= SLOWDOWN_MS / 1000 for _, elapsed in timed[FAILURE_LIMIT:])
    status, elapsed = login(guarded, email, PASSWORD, unique_ip())
    assert status == 200
    assert elapsed >= SLOWDOWN_MS / 1000
    print(f"\n[reservations] owner under attack: 200 after {elapsed * 1000:.0f} ms")


def test_ipv6_clients_count_by_their_64(database: TestDatabase) -> None:
    settings = make_settings(database, rate_limit_ip_per_minute=3)
    prefix = f"2001:db8:{uuid.uuid4().int & 0xFFFF:x}"
    with app_client(settings, peer_header=True) as app:

        def register_from(peer: str) -> int:
            return app.post(
                "/auth/register",
                json={
                    "email": unique_email("v6"),
                    "password": PASSWORD,
                    "organization_name": "Six",
                },
                headers={"X-Test-Peer": peer},
            ).status_code

        same_64 = [register_from(f"{prefix}::{i + 1:x}") for i in range(4)]
        other_64 = register_from(f"{prefix}:1::1")
    assert same_64 == [201, 201, 201, 429]
    assert other_64 == 201


def test_the_window_slides_across_its_boundary(database: TestDatabase) -> None:
    """A full window just before this one still counts: no twice the limit at a boundary."""
    now = int(time.time())
    # A window of half a day or more whose current one started 50 to 150 s
    # ago: the window before is all but fully counted, and younger than the
    # day after which buckets may be purged.
    window = next(w for w in range(43_200, 86_000) if 50 <= now % w <= 150)
    previous_start = (now // window - 1) * window
    bucket = "test:" + uuid.uuid4().hex
    owner_sql(
        database,
        "insert into iam.rate_limit_buckets (bucket, window_start, hits)"
        " values (%s, to_timestamp(%s), 10)",
        (bucket, previous_start),
    )
    waits = [
        owner_sql(database, "select iam.rate_limit_slide(%s, %s, 10, true)", (bucket, window))[0][0]
        for _ in range(3)
    ]
    assert all(wait > 0 for wait in waits), waits
    owner_sql(database, "delete from iam.rate_limit_buckets where bucket = %s", (bucket,))
