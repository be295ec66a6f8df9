"""The app under test for the resilience tests, reached directly or through a pooler.

TEST_API_DATABASE_URL routes the app, and only the app, through a connection
pooler such as PgBouncer in transaction mode: fixtures and migrations keep
using the session database directly. Its database name is replaced by the
session database's, so the pooler needs a wildcard `[databases] * = ...`
entry. TEST_DATABASE_POOLER is handed to the app as DATABASE_POOLER.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from service.settings import Settings
from tests.api.conftest import TEST_SECRET, make_settings
from tests.conftest import TestDatabase, with_dbname
from tests.resilience.processes import ApiServer

T = TypeVar("T")
R = TypeVar("R")


def pooler_url() -> str | None:
    """The pooler's URL (any database name), when the app must go through one."""
    return os.environ.get("TEST_API_DATABASE_URL") or None


def api_conninfo(database: TestDatabase) -> str:
    through = pooler_url()
    return with_dbname(through, database.name) if through else database.conninfo


def api_settings(database: TestDatabase, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": api_conninfo(database),
        "database_pooler": os.environ.get("TEST_DATABASE_POOLER", "none"),
    }
    values.update(overrides)
    return make_settings(database, **values)


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of `rls-iam serve` for the tests: rate limits out of the way."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "DATABASE_POOLER": os.environ.get("TEST_DATABASE_POOLER", "none"),
        "JWT_ACCESS_SECRET": TEST_SECRET,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL": "1000000",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def api_server(database: TestDatabase) -> Iterator[ApiServer]:
    """`rls-iam serve --workers 2` on the session database: races cross processes too.

    The races test outcomes, not latency (the fault tests bound that): a
    generous pool timeout keeps a burst of 50 requests from turning into
    503s on a small machine, or behind a pooler with one server connection.
    """
    env = server_env(api_conninfo(database), DATABASE_POOL_TIMEOUT_SECONDS="15")
    server = ApiServer(env=env, workers=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(api_server: ApiServer) -> Iterator[httpx.Client]:
    # The load comes from this process and the app runs in others, as in production.
    # keepalive_expiry below uvicorn's 5 s: no request races a server-side close.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
    with httpx.Client(base_url=api_server.base_url, timeout=30, limits=limits) as client:
        yield client


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
