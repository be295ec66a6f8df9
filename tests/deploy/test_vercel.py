"""The Vercel entrypoint api/index.py, imported the way Vercel's Python runtime imports it.

The runtime loads the file by path (importlib.util.spec_from_file_location,
then exec_module) in a fresh process whose environment holds only the
project's variables, and serves the module-level `app`. Its ASGI lifespan
may not run: the legacy runtime calls the app once per request, each time in
a new event loop (asyncio.run), and other hosts skip the lifespan too. The
tests serve register -> create project -> list both ways: a new event loop
per request (TestClient without its `with` block) and one loop without a
lifespan (httpx.ASGITransport).

Through a transaction-mode PgBouncer when TEST_API_DATABASE_URL names one
(.ci/checks/40-pgbouncer.sh starts it; see tests/support/api.py),
and directly in every run, against a migrated database of this module's own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.http.state import AppState
from service.settings import AppEnv, ConfigurationError, Pooler, Settings, get_settings
from tests.support.api import PASSWORD, TEST_SECRET, pooler_url, unique_email
from tests.support.database import (
    REPO,
    TestDatabase,
    create_database,
    drop_database,
    migrate,
    with_dbname,
)

ENTRYPOINT = REPO / "api" / "index.py"
# The name Vercel's vc_init.py gives the handler module.
MODULE_NAME = "vc__handler__python"
# Every variable Settings reads: none may leak in from the test process.
APP_VARIABLES = {name.upper() for name in Settings.model_fields}
NEEDS_POOLER = "needs a transaction-mode PgBouncer; .ci/checks/40-pgbouncer.sh provides one"
CLIENT_TIMEOUT = 15.0

LOAD_ENTRYPOINT = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location({MODULE_NAME!r}, {str(ENTRYPOINT)!r})
module = importlib.util.module_from_spec(spec)
sys.modules[{MODULE_NAME!r}] = module
spec.loader.exec_module(module)
"""


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A fresh function instance: no app variable set, no .env; all of it put back afterwards.

    create_serverless_app() writes its defaults into os.environ, which
    monkeypatch would not undo for variables that were unset: the whole
    environment is restored instead.
    """
    saved = dict(os.environ)
    for name in APP_VARIABLES:
        os.environ.pop(name, None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, MODULE_NAME, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()
    sys.modules.pop(MODULE_NAME, None)


@pytest.fixture(scope="module")
def entry_database(server_conninfo: str) -> Iterator[TestDatabase]:
    """A migrated database of this module's own: the functions' pools are dropped with it."""
    name = f"rls_iam_vercel_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conninfo = create_database(server_conninfo, name)
    migrate(conninfo)
    yield TestDatabase(name=name, conninfo=conninfo, server_conninfo=server_conninfo)
    drop_database(server_conninfo, name)  # with (force)


def import_entrypoint(**env: str) -> ModuleType:
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def app_state(app: FastAPI) -> AppState:
    state: AppState = app.state.rls_iam
    return state


def applied_migrations(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("select version from iam_migrations.schema_migrations order by 1")
        return [str(version) for (version,) in rows.fetchall()]


# ------------------------------------------------------------------ clients


def registration(label: str) -> dict[str, str]:
    return {"email": unique_email(label), "password": PASSWORD, "organization_name": label}


def serve_flow(send: Callable[..., httpx.Response]) -> list[str]:
    """register -> create project -> list; the listed project names."""
    registered = send(
        "POST",
        "/auth/register",
        json=registration("vercel"),
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    created = send("POST", "/projects", json={"name": "Edge"}, headers=headers)
    assert created.status_code == 201, created.text
    listed = send("GET", "/projects", headers=headers)
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["items"]]


def flow_new_loop_per_request(app: FastAPI) -> list[str]:
    # Without `with`, TestClient runs no lifespan and each request in a new event loop.
    # The pool cannot be closed from yet another loop (its workers died with the
    # first one): entry_database's forced drop ends its connections.
    return serve_flow(TestClient(app, raise_server_exceptions=False).request)


def flow_one_loop_without_lifespan(app: FastAPI) -> list[str]:
    async def run() -> list[str]:
        transport = httpx.ASGITransport(app=app)  # sends no lifespan events
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://vercel.test", timeout=CLIENT_TIMEOUT
            ) as client:
                return await _async_flow(client)
        finally:
            await app_state(app).pool.close(timeout=2)

    return asyncio.run(run())


async def _async_flow(client: httpx.AsyncClient) -> list[str]:
    """serve_flow, awaited in the caller's event loop."""
    registered = await client.post(
        "/auth/register",
        json=registration("vercel"),
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    created = await client.post("/projects", json={"name": "Edge"}, headers=headers)
    assert created.status_code == 201, created.text
    listed = await client.get("/projects", headers=headers)
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["items"]]


FLOWS = {
    "new-loop-per-request": flow_new_loop_per_request,
    "one-loop-no-lifespan": flow_one_loop_without_lifespan,
}


# -------------------------------------------------------------------- tests


@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOWS.keys())
def test_entrypoint_serves_through_a_transaction_pooler(
    entry_database: TestDatabase, function_env: None, flow: Callable[[FastAPI], list[str]]
) -> None:
    through = pooler_url()
    if through is None:
        pytest.skip(NEEDS_POOLER)
    migrations = applied_migrations(entry_database.conninfo)
    module = import_entrypoint(
        DATABASE_URL=with_dbname(through, entry_database.name), JWT_ACCESS_SECRET=TEST_SECRET
    )
    state = app_state(module.app)
    assert state.settings.prepare_threshold is None
    assert state.pool.closed, "the pool must open on the first request, not at import"
    assert flow(module.app) == ["Edge"]
    assert applied_migrations(entry_database.conninfo) == migrations


@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOWS.keys())
def test_entrypoint_serves_directly_with_pooler_settings(
    entry_database: TestDatabase, function_env: None, flow: Callable[[FastAPI], list[str]]
) -> None:
    migrations = applied_migrations(entry_database.conninfo)
    module = import_entrypoint(DATABASE_URL=entry_database.conninfo, JWT_ACCESS_SECRET=TEST_SECRET)
    assert app_state(module.app).settings.database_pooler is Pooler.TRANSACTION
    assert app_state(module.app).pool.closed
    assert flow(module.app) == ["Edge"]
    assert applied_migrations(entry_database.conninfo) == migrations


def terminate_app_backends(database: TestDatabase) -> int:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        row = conn.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where datname = %s and application_name = 'rls-iam'",
            (database.name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_warm_instance_recovers_from_a_dropped_connection_in_one_loop(
    entry_database: TestDatabase, function_env: None
) -> None:
    module = import_entrypoint(DATABASE_URL=entry_database.conninfo, JWT_ACCESS_SECRET=TEST_SECRET)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=module.app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://vercel.test", timeout=CLIENT_TIMEOUT
            ) as client:
                registered = await client.post("/auth/register", json=registration("warm"))
                assert registered.status_code == 201, registered.text
                headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
                # The pooler or the database drops the idle connection of a warm instance.
                assert terminate_app_backends(entry_database) >= 1
                return [
                    (await client.get("/projects", headers=headers)).status_code for _ in range(3)
                ]
        finally:
            await app_state(module.app).pool.close(timeout=2)

    assert 200 in asyncio.run(run())


def test_warm_instance_recovers_from_a_dropped_connection_with_a_loop_per_request(
    entry_database: TestDatabase, function_env: None
) -> None:
    module = import_entrypoint(DATABASE_URL=entry_database.conninfo, JWT_ACCESS_SECRET=TEST_SECRET)
    client = TestClient(module.app, raise_server_exceptions=False)
    registered = client.post("/auth/register", json=registration("warm"))
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    assert terminate_app_backends(entry_database) >= 1
    assert 200 in [client.get("/projects", headers=headers).status_code for _ in range(3)]


def test_entrypoint_applies_serverless_defaults(
    entry_database: TestDatabase, function_env: None
) -> None:
    module = import_entrypoint(DATABASE_URL=entry_database.conninfo, JWT_ACCESS_SECRET=TEST_SECRET)
    state = app_state(module.app)
    settings = state.settings
    assert settings.app_env is AppEnv.PRODUCTION
    assert settings.database_pooler is Pooler.TRANSACTION
    assert settings.prepare_threshold is None
    assert (settings.database_pool_min_size, settings.database_pool_max_size) == (0, 2)
    assert settings.database_connect_timeout_seconds == 3
    # What the pool's connections are actually opened with, not only the settings.
    assert (state.pool.min_size, state.pool.max_size) == (0, 2)
    assert state.pool.kwargs["prepare_threshold"] is None
    assert state.pool.kwargs["connect_timeout"] == 3
    assert state.pool.closed


def test_project_variables_override_the_serverless_defaults(
    entry_database: TestDatabase, function_env: None
) -> None:
    module = import_entrypoint(
        DATABASE_URL=entry_database.conninfo,
        JWT_ACCESS_SECRET=TEST_SECRET,
        DATABASE_POOL_MAX_SIZE="5",
        DATABASE_CONNECT_TIMEOUT_SECONDS="7",
    )
    state = app_state(module.app)
    assert state.pool.max_size == 5
    assert state.pool.kwargs["connect_timeout"] == 7
    assert state.pool.kwargs["prepare_threshold"] is None


@pytest.fixture
def unmigrated_database(server_conninfo: str) -> Iterator[str]:
    name = f"rls_iam_unmigrated_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conninfo = create_database(server_conninfo, name)
    yield conninfo
    drop_database(server_conninfo, name)


def test_importing_and_serving_never_migrates(unmigrated_database: str, function_env: None) -> None:
    module = import_entrypoint(DATABASE_URL=unmigrated_database, JWT_ACCESS_SECRET=TEST_SECRET)
    client = TestClient(module.app, raise_server_exceptions=False)
    assert client.get("/healthz").status_code == 200
    # Not ready: the schema is behind, and nothing at cold start brings it forward.
    assert client.get("/readyz").status_code == 503
    with psycopg.connect(unmigrated_database, autocommit=True) as conn:
        row = conn.execute(
            "select to_regnamespace('iam_migrations'), to_regnamespace('iam')"
        ).fetchone()
    assert row == (None, None)


def test_missing_database_url_fails_the_import_with_one_line(function_env: None) -> None:
    with pytest.raises(ConfigurationError) as raised:
        import_entrypoint(JWT_ACCESS_SECRET=TEST_SECRET)
    assert str(raised.value) == "configuration error: DATABASE_URL: required on serverless"


def test_missing_jwt_secret_fails_the_import_with_one_line(
    entry_database: TestDatabase, function_env: None
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        import_entrypoint(DATABASE_URL=entry_database.conninfo)
    assert str(raised.value) == "configuration error: JWT_ACCESS_SECRET: required in production"


def load_in_fresh_process(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", LOAD_ENTRYPOINT],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cold_start_without_database_url_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    result = load_in_fresh_process(tmp_path, JWT_ACCESS_SECRET=TEST_SECRET)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "configuration error: DATABASE_URL: required on serverless"
    ]


def test_cold_start_with_a_bad_value_prints_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = load_in_fresh_process(
        tmp_path,
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        JWT_ACCESS_SECRET=TEST_SECRET,
        DATABASE_POOL_MAX_SIZE="0",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: DATABASE_POOL_MAX_SIZE: "), lines
