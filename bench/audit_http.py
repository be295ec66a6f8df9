"""The audit triggers' cost on the API's write path: the same writes over HTTP.

`python -m bench.audit_cost` measures each write as pgbench sends it, which
puts the triggers' cost against the database's share of a request only.
Here the writes go through `rls-iam serve` (token check, the context and the
write in one pipeline, the JSON answer), as a client sends them: creating a
project, updating one, changing a member's role. Each round measures every
write with the triggers enabled and disabled, in an order that rotates; the
same server serves both (disabling a trigger invalidates its plans).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.http import ApiServer, Request, WrkResult, new_secret, token_service
from bench.plan import Plan, member_of, org_id, user_id
from bench.run import Settings, sample_tenants, tenant_tokens, wrk
from service.security.tokens import TokenService

Log = Callable[[str], None]
Toggle = Callable[[bool], None]
# The API's processes: two share the machine's two cores with PostgreSQL, so
# the rate follows every CPU microsecond a write costs, the triggers' included.
WORKERS = 2
# Requests still in flight when wrk stops are not counted but may record, and
# two role changes of one member in flight at once may both set the same role.
MIN_EVENTS_PER_WRITE = 0.9


@dataclass
class HttpWrite:
    name: str
    requests: list[Request]
    rps: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    api_cpu_ms: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    db_cpu_ms: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    events_per_write: list[float] = field(default_factory=list)

    def cost(self) -> float:
        """Median of the rounds' 1 - with / without."""
        return statistics.median(
            1 - on / off for on, off in zip(self.rps[True], self.rps[False], strict=True)
        )

    def cpu_added(self) -> float:
        """Median of the rounds' with / without - 1 for the CPU of a write, API and PostgreSQL."""
        totals = {
            on: [api + db for api, db in zip(self.api_cpu_ms[on], self.db_cpu_ms[on], strict=True)]
            for on in (True, False)
        }
        if not totals[True] or len(totals[True]) != len(totals[False]):
            return float("nan")
        return statistics.median(
            on / off - 1 for on, off in zip(totals[True], totals[False], strict=True)
        )

    def trigger_share(self) -> float:
        """Median of the rounds' PostgreSQL CPU added, over the write's CPU without triggers.

        The triggers run in PostgreSQL only; the API does the same work either
        way. On a machine whose cores are all busy, the rate follows the CPU a
        request costs in all, so this is the throughput the triggers take,
        without the noise of the API's own CPU from one run to the next.
        """
        series = (self.db_cpu_ms[True], self.db_cpu_ms[False], self.api_cpu_ms[False])
        # A remote database's CPU is not measured: no figure rather than a wrong one.
        if not series[0] or len({len(x) for x in series}) != 1:
            return float("nan")
        return statistics.median(
            (on - off) / (api + off) for on, off, api in zip(*series, strict=True)
        )

    def median(self, series: dict[bool, list[float]], triggers: bool) -> float:
        return statistics.median(series[triggers]) if series[triggers] else float("nan")


def workloads(conninfo: str, plan: Plan, tokens: TokenService) -> list[HttpWrite]:
    """Each write by the ORG_ADMINs of the bench's sample of typical tenants."""
    tenants = sample_tenants(plan)
    admin = {org: tenant_tokens(tokens, plan, org)[0] for org in tenants}
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            # A seeded project: the measurements' own ('bench-...') go at each reset.
            "select distinct on (organization_id) organization_id, id from iam.projects"
            " where organization_id = any(%s) and name not like 'bench-%%'"
            " order by organization_id, id",
            ([org_id(org) for org in tenants],),
        ).fetchall()
    project = {row[0]: row[1] for row in rows}
    return [
        HttpWrite(
            "project insert",
            [
                Request(
                    "POST", "/projects", admin[o], '{"name":"bench-{unique}","description":"wrk"}'
                )
                for o in tenants
            ],
        ),
        # A new description every time: an update that changes nothing
        # records nothing, and would flatter the triggers.
        HttpWrite(
            "project update",
            [
                Request(
                    "PATCH",
                    f"/projects/{project[org_id(o)]}",
                    admin[o],
                    '{"description":"wrk {unique}"}',
                )
                for o in tenants
            ],
        ),
        # The ORG_USER goes READ_ONLY and back: each request of a line sets
        # the other role than its last one did (bench/lua/requests.lua).
        HttpWrite(
            "member role change",
            [
                Request(
                    "PATCH",
                    f"/members/{user_id(member_of(plan, o))}",
                    admin[o],
                    '{"role":"{either:READ_ONLY|ORG_USER}"}',
                )
                for o in tenants
            ],
        ),
    ]


def events(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("select count(*) from iam.audit_events").fetchone()
    assert row is not None
    return int(row[0])


def measure(
    conninfo: str,
    plan: Plan,
    settings: Settings,
    run_dir: Path,
    *,
    toggle: Toggle,
    reset: Callable[[], None],
    log: Log,
) -> list[HttpWrite]:
    """Every write over HTTP with and without the triggers, the order rotating by round."""
    secret = new_secret()
    writes = workloads(conninfo, plan, token_service(secret))
    api = ApiServer(conninfo, WORKERS, secret, run_dir)
    try:
        for number in range(settings.rounds):
            reset()
            for triggers in (True, False) if number % 2 == 0 else (False, True):
                toggle(triggers)
                for write in writes:
                    before = events(conninfo) if triggers else 0
                    result = run_write(api, write.requests, settings)
                    write.rps[triggers].append(result.rps)
                    if result.worker_cpu_ms is not None:
                        write.api_cpu_ms[triggers].append(result.worker_cpu_ms)
                    if result.postgres_cpu_ms is not None:
                        write.db_cpu_ms[triggers].append(result.postgres_cpu_ms)
                    if triggers:
                        recorded = (events(conninfo) - before) / result.requests
                        # A write that records nothing would flatter the triggers.
                        if recorded < MIN_EVENTS_PER_WRITE:
                            raise RuntimeError(
                                f"{write.name}: {recorded:.2f} events per write, triggers on"
                            )
                        write.events_per_write.append(recorded)
            log(
                f"HTTP round {number + 1}: "
                + ", ".join(
                    f"{w.name} {w.rps[True][-1]:.0f}/{w.rps[False][-1]:.0f} req/s" for w in writes
                )
            )
    finally:
        toggle(True)
        api.stop()
    return writes


def run_write(api: ApiServer, requests: Sequence[Request], settings: Settings) -> WrkResult:
    # One wrk thread: each request line alternates its role in one Lua state.
    return wrk(api, requests, settings, connections=settings.connections, threads=1)


def render(writes: list[HttpWrite], connections: int) -> list[str]:
    lines = [
        "The same writes through the API (`rls-iam serve`, "
        f"{WORKERS} workers, wrk {connections} connections), as a client sends them:",
        "",
        "| write (HTTP) | with triggers (req/s) | without (req/s) | throughput cost |"
        " API CPU per request, with / without (ms) | PostgreSQL CPU per request, with / without"
        " (ms) | CPU added | PostgreSQL CPU added, share of the write's | events per write |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in writes:
        lines.append(
            f"| {w.name} | {w.median(w.rps, True):,.0f} | {w.median(w.rps, False):,.0f} |"
            f" {w.cost():+.1%} | {w.median(w.api_cpu_ms, True):.2f} /"
            f" {w.median(w.api_cpu_ms, False):.2f} | {w.median(w.db_cpu_ms, True):.2f} /"
            f" {w.median(w.db_cpu_ms, False):.2f} | {w.cpu_added():+.1%} |"
            f" {w.trigger_share():+.1%} |"
            f" {statistics.median(w.events_per_write):.2f} |"
        )
    return [
        *lines,
        "",
        "Throughput cost as above; CPU added: the median of the rounds' ratios of the CPU time"
        " per request of the API's workers and PostgreSQL's backends together. PostgreSQL CPU"
        " added, share of the write's: the median of the rounds' (PostgreSQL's CPU per request"
        " with triggers - without) / (API's + PostgreSQL's without): the triggers run in"
        " PostgreSQL only, so this leaves out the API's own CPU, which moves from run to run"
        " by as much as the triggers cost. Events per"
        " write: the events the run with triggers recorded, per answered request (a run that"
        " records fewer than 0.9 stops the bench).",
        "",
    ]
