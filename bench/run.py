"""The bench's measurements, in the order they run. Each returns plain figures for the report."""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import psycopg

from bench import plans
from bench.argon import hash_rate
from bench.cpu import CpuMeter, postgres_backends
from bench.http import ApiServer, Request, WrkResult, WrkRun
from bench.pgbench import (
    PROTOCOLS,
    PgbenchResult,
    Script,
    ab_scripts,
    api_list_script,
    api_lookup_script,
    run_pgbench,
)
from bench.plan import (
    BIG_TENANT,
    PASSWORD,
    TEN_TENANT,
    Plan,
    admin_of,
    email,
    member_of,
    org_id,
    session_id,
    user_id,
)
from service.http.pagination import CursorCodec
from service.security.tokens import TokenService

Log = Callable[[str], None]
TENANT_SAMPLE = 100  # typical tenants whose tokens the HTTP load uses
DEEP_ROW = 90_000  # where the deep-page cursor points, at full scale


@dataclass(frozen=True)
class Settings:
    duration: int
    rounds: int
    clients: int
    threads: int
    connections: int


@dataclass
class ABResult:
    operation: str
    protocol: str = "prepared"
    rls: list[float] = field(default_factory=list)
    app: list[float] = field(default_factory=list)
    checked: list[float] = field(default_factory=list)  # app filter + membership check

    @property
    def ratio(self) -> float:
        return statistics.median(self.rls) / statistics.median(self.app)

    @property
    def ratio_to_checked(self) -> float:
        return statistics.median(self.rls) / statistics.median(self.checked)


@dataclass
class Series:
    """Repeated wrk runs of one workload; the report shows medians."""

    name: str
    runs: list[WrkResult] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(run, attribute) for run in self.runs))

    def median_or_none(self, attribute: str) -> float | None:
        values = [v for v in (getattr(run, attribute) for run in self.runs) if v is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


@dataclass(frozen=True)
class PlanCheck:
    query: str
    custom: str
    generic: str
    ok: bool


# ------------------------------------------------------------------ plans


def check_plans(conninfo: str, plan: Plan) -> list[PlanCheck]:
    """EXPLAIN of the API's hot queries on the seeded data, for the big tenant."""
    after_micros, after_id = deep_position(conninfo, plan)
    project = first_project_of(conninfo, BIG_TENANT)
    checks = []
    with psycopg.connect(conninfo) as conn:
        for query in plans.HOT_QUERIES:
            params = plans.hot_query_params(query, project, after_micros, after_id)
            # A statement that calls a definer function is explained as the
            # function's body, as its owner (the call alone shows no table).
            statement, role = plans.explained(conn, query)
            found = {}
            for generic in (False, True):
                tree = plans.explain(
                    conn,
                    statement,
                    params,
                    user_id(admin_of(BIG_TENANT)),
                    org_id(BIG_TENANT),
                    generic=generic,
                    role=role,
                )
                found[generic] = plans.project_accesses(tree)
            ok = all(plans.uses_only(found[g], query.index) for g in (False, True))
            checks.append(
                PlanCheck(query.name, plans.describe(found[False]), plans.describe(found[True]), ok)
            )
    return checks + check_audit_plans(conninfo)


def check_audit_plans(conninfo: str) -> list[PlanCheck]:
    """EXPLAIN of GET /audit-events, with each filter, for the big tenant."""
    checks = []
    with psycopg.connect(conninfo) as conn:
        every = plans.audit_query_params(conn, org_id(BIG_TENANT))
        for query in plans.AUDIT_QUERIES:
            found = {}
            for generic in (False, True):
                tree = plans.explain(
                    conn,
                    query.sql,
                    plans.params_of(query, every),
                    user_id(admin_of(BIG_TENANT)),
                    org_id(BIG_TENANT),
                    generic=generic,
                )
                found[generic] = plans.table_accesses(tree, "audit_events")
            ok = all(plans.uses_only(found[g], query.index) for g in (False, True))
            checks.append(
                PlanCheck(query.name, plans.describe(found[False]), plans.describe(found[True]), ok)
            )
    return checks


def deep_position(conninfo: str, plan: Plan) -> tuple[int, uuid.UUID]:
    """The (created_at, id) of the big tenant's row at DEEP_ROW (or 90% down, when smaller)."""
    depth = min(DEEP_ROW, int(plan.big_projects * 0.9))
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select (extract(epoch from created_at) * 1000000)::bigint, id from iam.projects"
            " where organization_id = %s order by created_at desc, id desc offset %s limit 1",
            (org_id(BIG_TENANT), depth - 1),
        ).fetchone()
    assert row is not None
    return int(row[0]), uuid.UUID(str(row[1]))


def first_project_of(conninfo: str, org: int) -> uuid.UUID:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select id from iam.projects where organization_id = %s limit 1", (org_id(org),)
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


# ----------------------------------------------------------------- pgbench


def ab_rounds(conninfo: str, plan: Plan, settings: Settings, log: Log) -> list[ABResult]:
    """Interleaved rounds; the order of the paths rotates from round to round."""
    scripts = ab_scripts(plan)
    results = {
        (operation, protocol): ABResult(operation, protocol)
        for protocol in PROTOCOLS
        for operation in scripts
    }
    for number in range(settings.rounds):
        for protocol in PROTOCOLS:
            for operation, three in scripts.items():
                order = [("rls", three.rls), ("app", three.app), ("checked", three.checked)]
                shift = number % len(order)
                result = results[(operation, protocol)]
                for path, script in order[shift:] + order[:shift]:
                    tps = _pgbench(conninfo, script, settings, protocol).tps
                    getattr(result, path).append(tps)
                log(
                    f"round {number + 1}/{settings.rounds} {operation} ({protocol}): "
                    f"rls {result.rls[-1]:.0f} tps, app {result.app[-1]:.0f} tps,"
                    f" app + check {result.checked[-1]:.0f} tps"
                )
    return list(results.values())


@dataclass
class SessionCheck:
    """GET /projects's transaction with and without the session check, latency in ms."""

    checked: list[float] = field(default_factory=list)
    unchecked: list[float] = field(default_factory=list)
    # The context statement alone (it reads the caller): the check without the page's noise.
    lookup_checked: list[float] = field(default_factory=list)
    lookup_unchecked: list[float] = field(default_factory=list)

    @property
    def cost_us(self) -> float:
        """Median extra latency of one request's transaction, in microseconds."""
        return (statistics.median(self.checked) - statistics.median(self.unchecked)) * 1000

    @property
    def lookup_cost_us(self) -> float:
        return (
            statistics.median(self.lookup_checked) - statistics.median(self.lookup_unchecked)
        ) * 1000


def session_check_rounds(conninfo: str, plan: Plan, settings: Settings, log: Log) -> SessionCheck:
    """Interleaved rounds of the API's list transaction, the order alternating."""
    result = SessionCheck()
    scripts = [
        (result.checked, api_list_script(plan, session_check=True)),
        (result.unchecked, api_list_script(plan, session_check=False)),
        (result.lookup_checked, api_lookup_script(plan, session_check=True)),
        (result.lookup_unchecked, api_lookup_script(plan, session_check=False)),
    ]
    for number in range(settings.rounds):
        for into, script in scripts if number % 2 == 0 else scripts[::-1]:
            into.append(_pgbench(conninfo, script, settings).latency_ms)
        log(
            f"round {number + 1}/{settings.rounds} session check: "
            f"list {result.checked[-1]:.3f} ms with, {result.unchecked[-1]:.3f} ms without;"
            f" lookup {result.lookup_checked[-1]:.3f} ms with,"
            f" {result.lookup_unchecked[-1]:.3f} ms without"
        )
    return result


def _pgbench(
    conninfo: str, script: Script, settings: Settings, protocol: str = "prepared"
) -> PgbenchResult:
    return run_pgbench(
        conninfo,
        script,
        duration=settings.duration,
        clients=settings.clients,
        threads=settings.threads,
        protocol=protocol,
    )


# -------------------------------------------------------------------- HTTP


@dataclass
class Workloads:
    """The request pools wrk draws from, built from one dataset."""

    list_page: list[Request]
    get_by_id: list[Request]
    create: list[Request]
    me: list[Request]
    login: list[Request]
    healthz: list[Request]
    big_first: list[Request]
    ten_first: list[Request]
    deep: list[Request]


def sample_tenants(plan: Plan) -> list[int]:
    typical = range(3, plan.organizations + 1)
    sampler = random.Random(7)  # noqa: S311 - a sample, not a secret
    return sorted(sampler.sample(typical, min(TENANT_SAMPLE, len(typical))))


def tenant_tokens(tokens: TokenService, plan: Plan, org: int) -> list[str]:
    """An ORG_ADMIN's and an ORG_USER's token for organization org."""
    return [
        tokens.issue(user_id(admin_of(org)), org_id(org), "ORG_ADMIN", session_id(admin_of(org))),
        tokens.issue(
            user_id(member_of(plan, org)),
            org_id(org),
            "ORG_USER",
            session_id(member_of(plan, org)),
        ),
    ]


def build_workloads(conninfo: str, plan: Plan, tokens: TokenService) -> Workloads:
    tenants = sample_tenants(plan)
    by_tenant = {org: tenant_tokens(tokens, plan, org) for org in tenants}
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select organization_id, id from ("
            "  select organization_id, id,"
            "         row_number() over (partition by organization_id order by id) as n"
            "  from iam.projects where organization_id = any(%s)) as p where n <= 3",
            ([org_id(org) for org in tenants],),
        ).fetchall()
    org_number = {org_id(org): org for org in tenants}
    get_by_id = [
        Request("GET", f"/projects/{project}", token)
        for organization, project in rows
        for token in by_tenant[org_number[uuid.UUID(str(organization))]]
    ]
    all_tokens = [token for pair in by_tenant.values() for token in pair]
    after_micros, after_id = deep_position(conninfo, plan)
    cursor = CursorCodec(tokens.secret).encode("projects", after_micros, after_id)
    big = tenant_tokens(tokens, plan, BIG_TENANT)
    ten = tenant_tokens(tokens, plan, TEN_TENANT)
    login_body = '{{"email":"{}","password":"{}"}}'
    return Workloads(
        list_page=[Request("GET", "/projects", t) for t in all_tokens],
        get_by_id=get_by_id,
        create=[
            Request("POST", "/projects", t, '{"name":"bench-{unique}","description":"wrk"}')
            for t in all_tokens
        ],
        me=[Request("GET", "/auth/me", t) for t in all_tokens],
        login=[
            Request("POST", "/auth/login", None, login_body.format(email(admin_of(o)), PASSWORD))
            for o in tenants
        ],
        healthz=[Request("GET", "/healthz")],
        big_first=[Request("GET", "/projects", t) for t in big],
        ten_first=[Request("GET", "/projects", t) for t in ten],
        deep=[Request("GET", f"/projects?cursor={cursor}", t) for t in big],
    )


def wrk(
    server: ApiServer,
    requests: Sequence[Request],
    settings: Settings,
    *,
    connections: int,
    threads: int | None = None,
) -> WrkResult:
    workers = CpuMeter(server.worker_processes)
    postgres = CpuMeter(lambda: postgres_backends(server.dbname))
    workers.start()
    postgres.start()
    result = WrkRun(
        server.url,
        requests,
        duration=settings.duration,
        connections=connections,
        threads=threads or min(2, connections),
    ).run()
    result = replace(
        result,
        worker_cpu_ms=_per_request(workers.stop(), result.requests),
        postgres_cpu_ms=_per_request(postgres.stop(), result.requests),
    )
    if result.errors > max(5, result.requests // 100):
        raise RuntimeError(
            f"{result.errors} of {result.requests} requests failed against {server.url}"
            f" ({requests[0].method} {requests[0].path}); see {server.log_path}"
        )
    return result


def _per_request(seconds: float | None, requests: int) -> float | None:
    return None if seconds is None or requests == 0 else seconds * 1000 / requests


@dataclass
class ApiVsPgbench:
    workers: int
    pgbench: list[float] = field(default_factory=list)
    http: Series = field(default_factory=lambda: Series("GET /projects"))

    @property
    def ratio(self) -> float:
        return self.http.median("rps") / statistics.median(self.pgbench)


def api_vs_pgbench_round(
    result: ApiVsPgbench,
    conninfo: str,
    plan: Plan,
    server: ApiServer,
    workloads: Workloads,
    settings: Settings,
) -> None:
    result.pgbench.append(_pgbench(conninfo, api_list_script(plan), settings).tps)
    result.http.runs.append(
        wrk(server, workloads.list_page, settings, connections=settings.connections)
    )


@dataclass
class LoginFlood:
    """Interleaved rounds: the argon2 limit, then a login flood with /healthz polling."""

    argon2_per_second: list[float] = field(default_factory=list)
    argon2_cpu_ms: list[float] = field(default_factory=list)  # CPU time of one verification
    login: Series = field(default_factory=lambda: Series("POST /auth/login"))
    healthz: Series = field(default_factory=lambda: Series("GET /healthz during the flood"))

    @property
    def limit(self) -> float:
        return statistics.median(self.argon2_per_second)

    @property
    def ratio(self) -> float:
        return self.login.median("rps") / self.limit

    def cpu_per_login_ms(self) -> float | None:
        totals = [
            run.worker_cpu_ms + (run.postgres_cpu_ms or 0.0)
            for run in self.login.runs
            if run.worker_cpu_ms is not None
        ]
        return statistics.median(totals) if totals else None


def login_flood_round(
    flood: LoginFlood, server: ApiServer, workloads: Workloads, settings: Settings
) -> None:
    """Logins as fast as the hashing allows, while a health checker polls every 10 ms."""
    limit, cpu_ms = hash_rate(settings.duration)
    flood.argon2_per_second.append(limit)
    flood.argon2_cpu_ms.append(cpu_ms)
    health = WrkRun(
        server.url, workloads.healthz, duration=settings.duration, connections=1, delay_ms=10
    ).start()
    workers = CpuMeter(server.worker_processes)
    postgres = CpuMeter(lambda: postgres_backends(server.dbname))
    workers.start()
    postgres.start()
    run = WrkRun(
        server.url, workloads.login, duration=settings.duration, connections=8, threads=1
    ).start()
    login, healthz = run.result(), health.result()
    if login.errors > max(5, login.requests // 100):
        raise RuntimeError(f"{login.errors} of {login.requests} logins failed")
    flood.login.runs.append(
        replace(
            login,
            worker_cpu_ms=_per_request(workers.stop(), login.requests),
            postgres_cpu_ms=_per_request(postgres.stop(), login.requests),
        )
    )
    flood.healthz.runs.append(healthz)


# --------------------------------------------------- HTTP, A/B of the designs


@dataclass
class EndToEnd:
    """One endpoint of the real API against the same API with the app-filter design."""

    endpoint: str
    rls: Series
    app: Series

    @property
    def ratio(self) -> float:
        return self.rls.median("rps") / self.app.median("rps")


def end_to_end_rounds(
    real: ApiServer, app_filter: ApiServer, workloads: Workloads, settings: Settings, log: Log
) -> list[EndToEnd]:
    """Interleaved rounds, the servers' order alternating, the same wrk settings for both."""
    results = [
        (EndToEnd(name, Series(f"{name} (RLS)"), Series(f"{name} (app filter)")), requests)
        for name, requests in (
            ("GET /projects", workloads.list_page),
            ("GET /projects/{id}", workloads.get_by_id),
        )
    ]
    for number in range(settings.rounds):
        for result, requests in results:
            order = [(result.rls, real), (result.app, app_filter)]
            for series, server in order if number % 2 == 0 else order[::-1]:
                series.runs.append(
                    wrk(server, requests, settings, connections=settings.connections)
                )
            log(
                f"round {number + 1}/{settings.rounds} {result.endpoint}:"
                f" RLS {result.rls.runs[-1].rps:.0f} req/s,"
                f" app filter {result.app.runs[-1].rps:.0f} req/s"
            )
    return [result for result, _ in results]


# ------------------------------------------------------ HTTP behind PgBouncer


@dataclass
class BehindPooler:
    """GET /projects with the API connected directly and through PgBouncer."""

    direct: Series = field(default_factory=lambda: Series("direct, prepared statements"))
    unprepared: Series = field(
        default_factory=lambda: Series("direct, DATABASE_POOLER=transaction")
    )
    pgbouncer: Series = field(
        default_factory=lambda: Series("PgBouncer (transaction mode), DATABASE_POOLER=transaction")
    )
    pgbouncer_cpu_ms: list[float] = field(default_factory=list)  # PgBouncer's CPU per request
    skipped: str | None = None  # why there are no figures

    @property
    def ratio(self) -> float:
        return self.pgbouncer.median("rps") / self.direct.median("rps")


def behind_pooler_rounds(
    result: BehindPooler,
    servers: Sequence[tuple[Series, ApiServer]],
    pooler: CpuMeter,
    workloads: Workloads,
    settings: Settings,
    log: Log,
) -> None:
    """Interleaved rounds over the servers, their order rotating; PgBouncer's CPU on its run."""
    for number in range(settings.rounds):
        shift = number % len(servers)
        for series, server in [*servers[shift:], *servers[:shift]]:
            through_pooler = series is result.pgbouncer
            if through_pooler:
                pooler.start()
            run = wrk(server, workloads.list_page, settings, connections=settings.connections)
            series.runs.append(run)
            seconds = pooler.stop() if through_pooler else None
            if seconds is not None:
                result.pgbouncer_cpu_ms.append(seconds * 1000 / max(1, run.requests))
        log(
            f"round {number + 1}/{settings.rounds} GET /projects:"
            f" direct {result.direct.runs[-1].rps:.0f} req/s,"
            f" direct unprepared {result.unprepared.runs[-1].rps:.0f} req/s,"
            f" PgBouncer {result.pgbouncer.runs[-1].rps:.0f} req/s"
        )
