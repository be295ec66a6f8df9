"""`python -m bench.audit_cost`: write throughput with and without the audit triggers.

Two views of each write: the database's share alone, as the API sends it
(the context statement and the write in one pipeline, one round trip),
measured by pgbench on a seeded database; and the whole write path, the
same writes through the API (bench/audit_http.py, unless --no-http). The
writes: inserting a project, updating one, and changing a member's role.
Each round
measures every write with the audit triggers enabled and disabled (ALTER
TABLE ... DISABLE TRIGGER, by the superuser, on the bench database only), in
an order that rotates from round to round so that drift of the machine's
load falls on every side. It prints the figures and writes them into
docs/performance.md between the audit-cost markers (the rest of the file is
left alone).

With --alternatives, each round also measures variants of the triggers and
of the event's indexes (ALTERNATIVES below: what each part of the cost is,
and what a cheaper design would save), installed on the bench database for
their turn and undone after it; their table goes into the same section.
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import psycopg
from psycopg import sql

from bench import audit_http, machine
from bench.audit_variants import Alternative, Migrated, alternatives
from bench.database import BenchServer
from bench.pgbench import (
    CONTEXT,
    PROJECT,
    Script,
    _typical_project,
    _typical_tenant,
    run_pgbench,
)
from bench.plan import Plan
from bench.run import PlanCheck, Settings, check_audit_plans

BEGIN = "<!-- audit-cost: begin (written by python -m bench.audit_cost) -->"
END = "<!-- audit-cost: end -->"
TARGET = 0.15  # the most throughput the triggers may cost
TRIGGERS = (
    ("iam.projects", "projects_audit"),
    ("iam.organization_memberships", "organization_memberships_audit"),
    ("iam.organizations", "organizations_audit"),
    ("iam.invitations", "invitations_audit"),
)
OFF = "without triggers"
SHIPPED = "as migrated"
Log = Callable[[str], None]
# The seed's ORG_USER of organization :o is user N + :o (bench/seed.py).
ORG_USER = "md5('u' || :member)::uuid"


def _pipeline(statement: str) -> str:
    return f"\\startpipeline\n{CONTEXT};\n{statement};\n\\endpipeline\n"


def scripts(plan: Plan) -> list[Script]:
    """Each write as the API sends it, by the ORG_ADMIN of a typical organization."""
    tenant = _typical_tenant(plan)
    return [
        Script(
            "project insert",
            tenant
            + _pipeline(
                "insert into iam.projects (name, description)"
                " values ('bench-' || gen_random_uuid(), 'pgbench') returning id"
            ),
        ),
        # A new description every time: an update that changes nothing
        # records nothing, and would flatter the triggers.
        Script(
            "project update",
            _typical_project(plan)
            + _pipeline(
                "update iam.projects set description = 'pgbench ' || random()"
                f" where id = {PROJECT} returning id"
            ),
        ),
        # The organization's ORG_USER goes READ_ONLY and back.
        Script(
            "member role change",
            tenant
            + f"\\set member {plan.organizations} + :o\n"
            + _pipeline(
                "update iam.organization_memberships"
                " set role = case role when 'ORG_USER' then 'READ_ONLY'::iam.org_role"
                " else 'ORG_USER'::iam.org_role end"
                f" where user_id = {ORG_USER} returning role"
            ),
        ),
    ]


@dataclass
class Sample:
    tps: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # server CPU per write, microseconds


@dataclass
class Measured:
    """One write's figures under each configuration of the triggers (OFF, SHIPPED, ...)."""

    name: str
    samples: dict[str, Sample] = field(default_factory=dict)

    def sample(self, config: str) -> Sample:
        return self.samples.setdefault(config, Sample())

    def tps(self, config: str) -> float:
        return statistics.median(self.samples[config].tps)

    def cpu(self, config: str) -> float:
        return statistics.median(self.samples[config].cpu)

    # Each round measures every configuration once, so the n-th figures of two
    # configurations were taken minutes apart: their ratio leaves out the drift
    # of the machine's load from round to round, which a ratio of medians keeps.
    def cost(self, config: str = SHIPPED) -> float:
        """The share of throughput the triggers cost: median of the rounds' 1 - with / without."""
        pairs = zip(self.samples[config].tps, self.samples[OFF].tps, strict=True)
        return statistics.median(1 - with_ / without for with_, without in pairs)

    def cpu_cost(self, config: str = SHIPPED) -> float:
        """The share of server CPU per write the triggers add: the median of the rounds' ratios."""
        pairs = zip(self.samples[config].cpu, self.samples[OFF].cpu, strict=True)
        return statistics.median(with_ / without - 1 for with_, without in pairs)

    def cpu_added(self, config: str) -> float:
        """Microseconds of server CPU per write the triggers add: the median of the rounds'."""
        pairs = zip(self.samples[config].cpu, self.samples[OFF].cpu, strict=True)
        return statistics.median(with_ - without for with_, without in pairs)


# pgbench's :name variables as psycopg's %(name)s (casts such as ::uuid stay).
_VARIABLE = re.compile(r"(?<!:):([a-z_]+)\b")


def _variables(script: Script, plan: Plan, rng: random.Random) -> dict[str, str]:
    """The values the script's \\set lines would draw (bench/pgbench.py, bench/seed.py)."""
    if script.name == "project update":
        k = rng.randint(plan.first_typical_project, plan.projects)
        o = 3 + (k - plan.first_typical_project) % plan.typical_organizations
        values = {"k": k, "o": o, "u": o, "timeout": 5000}
    else:
        o = rng.randint(3, plan.organizations)
        values = {"o": o, "u": o, "timeout": 5000, "member": plan.organizations + o}
    # As text, the way pgbench sends its variables.
    return {name: str(value) for name, value in values.items()}


def server_cpu_per_write(conninfo: str, plan: Plan, script: Script, count: int) -> float:
    """Microseconds of the server process's CPU per write, one connection, count writes.

    Throughput on a shared machine moves with whatever else runs; the CPU a
    write costs its backend moves much less. The writes are the script's own
    statements, in one pipeline each, as the API sends them.
    """
    statements = [
        _VARIABLE.sub(r"%(\1)s", line.rstrip(";"))
        for line in script.text.splitlines()
        if line and not line.startswith("\\")
    ]
    rng = random.Random(7)  # noqa: S311 - which tenants, not a secret
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(row[0])
        for number in range(count + WARM_UP):
            if number == WARM_UP:
                before = _cpu_seconds(pid)
            params = _variables(script, plan, rng)
            with conn.pipeline():
                for statement in statements:
                    conn.execute(statement, params)
        used = _cpu_seconds(pid) - before
    return used / count * 1e6


# Writes before the clock starts: the first ones plan and cache what later
# ones reuse, as a pooled connection of the API has long done.
WARM_UP = 20


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time: nanoseconds from schedstat on Linux, else clock ticks."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)


def set_triggers(conninfo: str, enabled: bool) -> None:
    verb = "enable" if enabled else "disable"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table, trigger in TRIGGERS:
            conn.execute(f"alter table {table} {verb} trigger {trigger}")


def measure(
    conninfo: str,
    plan: Plan,
    *,
    rounds: int,
    duration: int,
    clients: int,
    log: Log,
    alternatives: tuple[Alternative, ...] = (),
    cpu_writes: int = 1000,
) -> list[Measured]:
    """Every write under every configuration, the order rotating from round to round."""
    configs = [SHIPPED, OFF, *(a.name for a in alternatives)]
    sql_of = {a.name: a.sql for a in alternatives}
    migrated = Migrated.capture(conninfo)
    results = [Measured(script.name) for script in scripts(plan)]
    try:
        for number in range(rounds):
            remove_bench_writes(conninfo, plan)
            turn = number % len(configs)
            for config in configs[turn:] + configs[:turn]:
                migrated.restore(conninfo)
                set_triggers(conninfo, config != OFF)
                if config in sql_of:
                    with psycopg.connect(conninfo, autocommit=True) as conn:
                        conn.execute(sql.SQL(sql_of[config]))
                for script, result in zip(scripts(plan), results, strict=True):
                    run = run_pgbench(
                        conninfo, script, duration=duration, clients=clients, threads=2
                    )
                    sample = result.sample(config)
                    sample.tps.append(run.tps)
                    before = audit_http.events(conninfo)
                    sample.cpu.append(server_cpu_per_write(conninfo, plan, script, cpu_writes))
                    recorded = audit_http.events(conninfo) - before
                    # The migrated triggers record every measured write (a
                    # variant may record less: its row says what it changes).
                    if config == SHIPPED and recorded < cpu_writes:
                        raise RuntimeError(
                            f"{script.name}: {recorded} events for {cpu_writes} writes"
                        )
            log(
                f"round {number + 1}: "
                + ", ".join(
                    f"{r.name} {r.samples[SHIPPED].tps[-1]:.0f}/{r.samples[OFF].tps[-1]:.0f} tps,"
                    f" {r.samples[SHIPPED].cpu[-1]:.0f}/{r.samples[OFF].cpu[-1]:.0f} us CPU"
                    for r in results
                )
            )
    finally:
        migrated.restore(conninfo)
        set_triggers(conninfo, True)
    return results


@dataclass(frozen=True)
class Growth:
    events: int
    table_bytes: int
    index_bytes: int

    @property
    def bytes_per_event(self) -> float:
        return (self.table_bytes + self.index_bytes) / max(1, self.events)


def growth(conninfo: str) -> Growth:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("vacuum (analyze) iam.audit_events")
        row = conn.execute(
            "select (select count(*) from iam.audit_events),"
            " pg_table_size('iam.audit_events'), pg_indexes_size('iam.audit_events')"
        ).fetchone()
    assert row is not None
    return Growth(int(row[0]), int(row[1]), int(row[2]))


# The tables the measured writes change: rewritten compact after each cleanup.
WRITTEN = ("iam.audit_events", "iam.projects", "iam.organization_memberships")


def remove_bench_writes(conninfo: str, plan: Plan) -> None:
    """Undo what the measurements wrote, triggers off, so each round starts from the seed.

    Deleting leaves the deleted rows' space free all over the heaps, and
    later inserts would fill it page by page across the whole table: hundreds
    of megabytes after a few runs, so every insert read a page from outside
    shared_buffers. An append-only log never has such holes (nothing is
    deleted but a whole organization), so the tables are rewritten compact:
    every round inserts at their ends, as the product does. The events are
    rewritten in their primary key's order, each organization's in the order
    they were appended, which the pages of GET /audit-events walk (the plans
    the bench then checks).
    """
    set_triggers(conninfo, False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("delete from iam.projects where name like 'bench-%'")
            # The seed writes without a request context: every event with a
            # request id is a measurement's (pgbench's or the API's).
            conn.execute("delete from iam.audit_events where request_id is not null")
            conn.execute(
                "update iam.organization_memberships as m set role = 'ORG_USER'"
                " from generate_series(1, %(n)s) as i"
                " where m.organization_id = md5('o' || i)::uuid"
                " and m.user_id = md5('u' || (%(n)s + i))::uuid and m.role <> 'ORG_USER'",
                {"n": plan.organizations},
            )
            conn.execute("cluster iam.audit_events using audit_events_pkey")
            conn.execute(f"vacuum (full, analyze) {', '.join(WRITTEN[1:])}")
            conn.execute("analyze iam.audit_events")
    finally:
        set_triggers(conninfo, True)


def _alternatives_table(results: list[Measured]) -> list[str]:
    """Each variant against no triggers, measured in the same rounds as the migrated design."""
    configs = [c for c in results[0].samples if c != OFF]
    if configs == [SHIPPED]:
        return []
    head = " | ".join(r.name for r in results)
    lines = [
        "Variants, each against no triggers in the same rounds: throughput cost, then the",
        "server CPU each write gains (us per write, and as a share of the write without",
        "triggers); medians of the rounds' differences and ratios.",
        "",
        f"| triggers | {head} |",
        "|---|" + "---:|" * len(results),
    ]
    for config in configs:
        cells = " | ".join(
            f"{r.cost(config):+.1%}, {r.cpu_added(config):+,.0f} us ({r.cpu_cost(config):+.1%})"
            for r in results
        )
        lines.append(f"| {config} | {cells} |")
    return [*lines, ""]


def render(
    command: str,
    server: str,
    rounds: int,
    clients: int,
    plan: Plan,
    results: list[Measured],
    size: Growth,
    checks: list[PlanCheck],
    http: list[audit_http.HttpWrite],
    http_connections: int,
) -> str:
    lines = [
        BEGIN,
        "",
        "### Measured: write throughput with and without the audit triggers",
        "",
        f"`{command}`, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; {server};"
        f" {machine.describe()}; load average {machine.load_average()}; dataset {plan.tag()}.",
        "",
        "| write (one pipeline, as the API sends it) | with triggers (tps) | without (tps) |"
        " throughput cost | server CPU per write, with / without (us) | CPU added |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.tps(SHIPPED):,.0f} | {r.tps(OFF):,.0f} |"
            f" {r.cost():+.1%} | {r.cpu(SHIPPED):,.0f} /"
            f" {r.cpu(OFF):,.0f} | {r.cpu_cost():+.1%} |"
        )
    lines += [
        "",
        f"Medians of {rounds} rounds, each of which measures every configuration once, in an"
        f" order that rotates. Throughput: pgbench, {clients} clients; the cost is the median of"
        " the rounds' 1 - with / without (negative: the run with triggers was the faster one)."
        " Server CPU: the backend's CPU time per write, one connection sending the same"
        " pipelines; CPU added is the median of the rounds' ratios. On a machine whose cores"
        " are all busy, throughput follows CPU.",
        "",
        *(audit_http.render(http, http_connections) if http else []),
        *_alternatives_table(results),
        f"Size: {size.events:,} events take {size.table_bytes / 2**20:,.1f} MiB of table and"
        f" {size.index_bytes / 2**20:,.1f} MiB of indexes, {size.bytes_per_event:,.0f} bytes"
        " per event in all.",
        "",
        "Plans of `GET /audit-events` for the big tenant (as its ORG_ADMIN; custom and",
        "generic plan):",
        "",
        "| query | custom plan reads iam.audit_events by | generic plan | index only |",
        "|---|---|---|---|",
        *(f"| {c.query} | {c.custom} | {c.generic} | {'yes' if c.ok else 'NO'} |" for c in checks),
        "",
        END,
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def log(message: str) -> None:
    print(f"[audit-cost {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_cost", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.05, help="dataset size (0.05)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, each with and without (4)")
    parser.add_argument("--clients", type=int, default=4, help="pgbench connections (4)")
    parser.add_argument(
        "--alternatives",
        action="store_true",
        help="also measure the variants of bench/audit_variants.py in the same rounds",
    )
    parser.add_argument(
        "--http-connections", type=int, default=16, help="wrk connections for the API's writes (16)"
    )
    parser.add_argument(
        "--no-http",
        action="store_true",
        help="skip the writes through the API (bench/audit_http.py)",
    )
    parser.add_argument("--output", type=Path, default=Path("docs/performance.md"))
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    args = parser.parse_args(argv)
    plan = Plan.at_scale(args.scale)
    # A stopped run still puts the migrated triggers and indexes back (the
    # finally blocks below), so that the next run starts from them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = BenchServer.open(args.data_dir)
    try:
        conninfo = server.prepare("rls_iam_bench_audit", plan, reseed=False, log=log)
        results = measure(
            conninfo,
            plan,
            rounds=args.rounds,
            duration=args.duration,
            clients=args.clients,
            log=log,
            alternatives=alternatives() if args.alternatives else (),
        )
        size = growth(conninfo)
        http = (
            []
            if args.no_http
            else audit_http.measure(
                conninfo,
                plan,
                Settings(args.duration, args.rounds, args.clients, 1, args.http_connections),
                args.data_dir / "serve",
                toggle=lambda enabled: set_triggers(conninfo, enabled),
                reset=lambda: remove_bench_writes(conninfo, plan),
                log=log,
            )
        )
        remove_bench_writes(conninfo, plan)
        checks = check_audit_plans(conninfo)
        command = shlex.join(["python", "-m", "bench.audit_cost", *argv])
        section = render(
            command,
            server.describe(),
            args.rounds,
            args.clients,
            plan,
            results,
            size,
            checks,
            http,
            args.http_connections,
        )
    finally:
        server.close()
    print(section)
    write_section(args.output, section)
    # The goal is the write path's: a client's write, through the API. Without
    # --no-http that is judged; else the database's share alone, the stricter.
    within = (
        all(min(w.cost(), w.trigger_share()) <= TARGET for w in http)
        if http
        else all(min(r.cost(), r.cpu_cost()) <= TARGET for r in results)
    )
    return 0 if within and all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
