"""Behind a transaction-mode pooler: no prepared statements, no context outlives its transaction.

With TEST_API_DATABASE_URL pointing at PgBouncer (pool_mode=transaction,
default_pool_size=1, as .ci/checks/40-pgbouncer.sh starts it), every
tenant's transactions run on one server connection, reached through many
client connections. Without it, the app's own pool is cut to one
connection, so every tenant still shares one server connection.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from service.http.app import create_app
from service.http.state import AppState
from service.settings import Settings
from tests.support.api import (
    Actor,
    add_member,
    api_database_url,
    make_settings,
    pooler_url,
    register,
)
from tests.support.database import TestDatabase, with_dbname

TENANTS = 6
REQUESTS_PER_ACTOR = 40
LOAD_DEADLINE_SECONDS = 90.0

# What a server connection looks like when no transaction is running on it.
NO_CONTEXT = (
    "select current_user, current_setting('role'), current_setting('iam.user_id', true),"
    " current_setting('iam.org_id', true), current_setting('statement_timeout'),"
    " pg_backend_pid()"
)


def app_state(client: TestClient) -> AppState:
    state: AppState = client.app.state.rls_iam  # type: ignore[attr-defined]
    return state


def shared_connection_settings(database: TestDatabase, **overrides: Any) -> Settings:
    """Settings under which all tenants share one server connection."""
    values: dict[str, Any] = {"database_pool_timeout_seconds": 10}
    if pooler_url() is None:
        values.update(database_pool_min_size=1, database_pool_max_size=1)
    values.update(overrides)
    return make_settings(database, **values)


def login_role(database: TestDatabase) -> str:
    return str(conninfo_to_dict(api_database_url(database))["user"])


def server_default_statement_timeout(database: TestDatabase) -> str:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        row = conn.execute("select reset_val from pg_settings where name = 'statement_timeout'")
        value = row.fetchone()
    assert value is not None
    # current_setting() shows the unit; pg_settings shows milliseconds.
    return "0" if value[0] == "0" else f"{value[0]}ms"


# ------------------------------------------------------------ prepared statements


def prepared_statement_probe(client: TestClient) -> tuple[int | None, int]:
    """prepare_threshold of the app's one pooled connection, and what its session prepared."""

    async def probe() -> tuple[int | None, int]:
        pool = await app_state(client).ready_pool()
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("select count(*) from pg_prepared_statements")
            row = await cursor.fetchone()
            assert row is not None
            return conn.prepare_threshold, int(row[0])

    assert client.portal is not None
    return client.portal.call(probe)


def repeat_requests(client: TestClient, times: int) -> None:
    actor = register(client, "prepared")
    for _ in range(times):
        response = client.get("/projects", headers=actor.headers)
        assert response.status_code == 200, response.text


def test_transaction_pooler_setting_turns_server_side_prepared_statements_off(
    database: TestDatabase,
) -> None:
    settings = shared_connection_settings(
        database,
        database_pooler="transaction",
        database_pool_min_size=1,
        database_pool_max_size=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        repeat_requests(client, 20)
        threshold, prepared = prepared_statement_probe(client)

    assert threshold is None
    assert prepared == 0


def test_direct_connections_prepare_repeated_statements(database: TestDatabase) -> None:
    # The control for the test above: the probe does see prepared statements
    # when they are on. Direct to PostgreSQL only: behind the pooler they
    # would break.
    settings = make_settings(
        database,
        database_url=database.conninfo,
        database_pooler="none",
        database_pool_min_size=1,
        database_pool_max_size=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        repeat_requests(client, 20)
        threshold, prepared = prepared_statement_probe(client)

    assert threshold == 5
    assert prepared > 0


# ------------------------------------------------------------ interleaved tenants


@dataclass
class Tenant:
    index: int
    admin: Actor
    reader: Actor
    project_ids: list[str]
    # Every other tenant's markers, filled in once all tenants exist.
    foreign: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"tenant{self.index:02d}-"

    @property
    def markers(self) -> set[str]:
        """Strings only this tenant's responses may contain."""
        return {
            self.admin.org_id,
            self.admin.user_id,
            self.reader.user_id,
            self.admin.email,
            self.reader.email,
            *self.project_ids,
            self.prefix,
        }


@dataclass
class Findings:
    requests: int = 0
    observations: int = 0
    leaks: list[str] = field(default_factory=list)
    backends: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def leak(self, message: str) -> None:
        with self.lock:
            self.leaks.append(message)


def make_tenant(client: TestClient, index: int) -> Tenant:
    prefix = f"tenant{index:02d}-"
    admin = register(client, f"{prefix}admin", org_name=f"{prefix}org")
    reader = add_member(client, admin, "READ_ONLY", f"{prefix}reader")
    project_ids = []
    for number in range(3):
        response = client.post(
            "/projects", json={"name": f"{prefix}project-{number}"}, headers=admin.headers
        )
        assert response.status_code == 201, response.text
        project_ids.append(response.json()["id"])
    return Tenant(index, admin, reader, project_ids)


def check_response(
    findings: Findings, tenant: Tenant, actor: Actor, what: str, text: str, body: Any
) -> None:
    foreign = [m for m in tenant.foreign if m in text]
    if foreign:
        findings.leak(f"{what} by {tenant.prefix}: foreign data {foreign[:3]}")
    if what == "list projects":
        for item in body["items"]:
            if item["organization_id"] != tenant.admin.org_id or not item["name"].startswith(
                tenant.prefix
            ):
                findings.leak(f"{what} by {tenant.prefix}: {item}")
    elif what == "me":
        if (body["user"]["id"], body["organization"]["id"]) != (actor.user_id, actor.org_id):
            findings.leak(f"{what} by {tenant.prefix}: {body}")
    elif what == "list members":
        emails = {item["email"] for item in body["items"]}
        if not emails <= {tenant.admin.email, tenant.reader.email}:
            findings.leak(f"{what} by {tenant.prefix}: {sorted(emails)}")


def drive(
    client: TestClient,
    tenant: Tenant,
    actor: Actor,
    foreign_projects: list[str],
    findings: Findings,
    deadline: float,
) -> None:
    """A random mix of reads and writes as actor, checked for anything not its tenant's."""
    rng = random.Random(f"{tenant.index}-{actor.user_id}")
    for _ in range(REQUESTS_PER_ACTOR):
        if time.monotonic() > deadline:
            return
        choice = rng.choice(
            [
                "list projects",
                "own project",
                "foreign project",
                "me",
                "list members",
                "organizations",
                "create project",
            ]
        )
        expected = 200
        if choice == "list projects":
            response = client.get("/projects", params={"limit": 100}, headers=actor.headers)
        elif choice == "own project":
            project = rng.choice(tenant.project_ids)
            response = client.get(f"/projects/{project}", headers=actor.headers)
        elif choice == "foreign project":
            project = rng.choice(foreign_projects)
            response = client.get(f"/projects/{project}", headers=actor.headers)
            expected = 404
        elif choice == "me":
            response = client.get("/auth/me", headers=actor.headers)
        elif choice == "list members":
            response = client.get("/members", headers=actor.headers)
        elif choice == "organizations":
            response = client.get("/organizations", headers=actor.headers)
        else:
            name = f"{tenant.prefix}new-{uuid.uuid4().hex[:8]}"
            response = client.post("/projects", json={"name": name}, headers=actor.headers)
            expected = 201 if actor is tenant.admin else 403
        with findings.lock:
            findings.requests += 1
        if response.status_code != expected:
            findings.leak(f"{choice} by {tenant.prefix}: {response.status_code} {response.text}")
            continue
        body = response.json() if response.status_code in (200, 201) else None
        check_response(findings, tenant, actor, choice, response.text, body)


def observe_through_app_pool(client: TestClient) -> tuple[Any, ...]:
    """NO_CONTEXT on a connection of the app's own pool, outside any transaction."""

    async def observe() -> tuple[Any, ...]:
        pool = await app_state(client).ready_pool()
        async with pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                row = await (await conn.execute(NO_CONTEXT)).fetchone()
            finally:
                await conn.set_autocommit(False)
        assert row is not None
        return tuple(row)

    assert client.portal is not None
    return client.portal.call(observe)


def check_observation(
    findings: Findings, row: tuple[Any, ...], role: str, default_timeout: str
) -> None:
    user, set_role, user_id, org_id, statement_timeout, backend = row
    with findings.lock:
        findings.observations += 1
        findings.backends.add(int(backend))
    if (user, set_role, user_id or "", org_id or "", statement_timeout) != (
        role,
        "none",
        "",
        "",
        default_timeout,
    ):
        findings.leak(f"server connection outside a transaction: {row}")


def observer(
    client: TestClient,
    database: TestDatabase,
    findings: Findings,
    stop: threading.Event,
) -> None:
    """Reads the shared server connection's state between the tenants' transactions."""
    role = login_role(database)
    default_timeout = server_default_statement_timeout(database)
    raw = (
        psycopg.connect(api_database_url(database), autocommit=True, prepare_threshold=None)
        if pooler_url()
        else None
    )
    try:
        while not stop.is_set():
            check_observation(findings, observe_through_app_pool(client), role, default_timeout)
            if raw is not None:
                row = raw.execute(NO_CONTEXT).fetchone()
                assert row is not None
                check_observation(findings, tuple(row), role, default_timeout)
            time.sleep(0.01)
    finally:
        if raw is not None:
            raw.close()


def pgbouncer_server_backends(database: TestDatabase) -> list[int]:
    """The backend pids of PgBouncer's server connections to the session database."""
    url = pooler_url()
    assert url is not None
    with psycopg.connect(with_dbname(url, "pgbouncer"), autocommit=True) as admin:
        cursor = admin.execute("show servers")
        columns = [column.name for column in cursor.description or []]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return [int(row["remote_pid"]) for row in rows if row["database"] == database.name]


@pytest.fixture(scope="module")
def shared_client(database: TestDatabase) -> Iterator[TestClient]:
    settings = shared_connection_settings(database)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_interleaved_tenants_on_one_server_connection_see_only_their_own_data(
    shared_client: TestClient, database: TestDatabase
) -> None:
    tenants = [make_tenant(shared_client, index) for index in range(TENANTS)]
    for tenant in tenants:
        tenant.foreign = set().union(*(other.markers for other in tenants if other is not tenant))
    findings = Findings()
    stop = threading.Event()
    deadline = time.monotonic() + LOAD_DEADLINE_SECONDS
    watcher = threading.Thread(
        target=observer, args=(shared_client, database, findings, stop), daemon=True
    )
    workers = [
        threading.Thread(
            target=drive,
            args=(
                shared_client,
                tenant,
                actor,
                [p for other in tenants if other is not tenant for p in other.project_ids],
                findings,
                deadline,
            ),
            daemon=True,
        )
        for tenant in tenants
        for actor in (tenant.admin, tenant.reader)
    ]
    watcher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=LOAD_DEADLINE_SECONDS + 30)
    stop.set()
    watcher.join(timeout=30)
    servers = pgbouncer_server_backends(database) if pooler_url() else None

    print(
        f"interleaved: {findings.requests} requests from {len(workers)} actors of {TENANTS}"
        f" tenants, {findings.observations} observations of the server connection"
        f" (backends seen {sorted(findings.backends)}, pgbouncer's server backends {servers}),"
        f" leaks found: {len(findings.leaks)}"
    )
    assert not any(worker.is_alive() for worker in workers), "a worker hung"
    assert findings.leaks == []
    assert findings.requests >= TENANTS * 2 * REQUESTS_PER_ACTOR * 0.9
    assert findings.observations > 0
    # One server connection served them all, so the interleaving was real.
    assert len(findings.backends) == 1
    if servers is not None:
        # ...and it is PgBouncer's only server connection: the app did go through it.
        assert servers == sorted(findings.backends)


def test_server_connection_has_no_context_after_tenant_transactions(
    shared_client: TestClient, database: TestDatabase
) -> None:
    admin = register(shared_client, "last-tenant")
    assert shared_client.get("/projects", headers=admin.headers).status_code == 200
    role = login_role(database)
    default_timeout = server_default_statement_timeout(database)
    findings = Findings()

    check_observation(findings, observe_through_app_pool(shared_client), role, default_timeout)
    if pooler_url():
        with psycopg.connect(api_database_url(database), autocommit=True) as raw:
            row = raw.execute(NO_CONTEXT).fetchone()
            assert row is not None
            check_observation(findings, tuple(row), role, default_timeout)

    assert findings.leaks == []
    assert len(findings.backends) == 1
