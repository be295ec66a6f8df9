"""`python -m bench.membership`: what each way of checking the caller's membership costs.

Every RLS statement checks that the caller is an active member of the active
organization (db/policies/). This measures the ways that check can be
written, on the bench's seeded database, as iam_authenticated with a typical
tenant's context, and prints a table for docs/performance.md: N calls in one
statement (`count(f())` over generate_series), so the statement's own fixed
cost is spread thin. A policy calls the check once per statement, as an
InitPlan, so the cost per call is the check's cost per statement.

The alternatives live in a scratch schema of the bench database, created
and dropped by this script; the real policies are not touched. Each is
marked with whether it keeps the guarantees of docs/dba.md (role read from
the membership table by the database, demotion on the next statement, fail
closed, nothing a request role can forge).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.database import BenchServer
from bench.plan import Plan

SCRATCH = "bench_membership"
READ = """
select m.role from iam.organization_memberships as m
join iam.users as u on u.id = m.user_id
where m.organization_id = iam.current_org_id() and m.user_id = iam.current_user_id()
  and u.is_active
"""


@dataclass(frozen=True)
class Alternative:
    key: str
    description: str
    expression: str  # evaluated once per call; {g} is the row, to keep a subquery per row
    keeps_guarantees: str
    setup: str = ""


ALTERNATIVES = (
    Alternative(
        "plpgsql",
        "plpgsql SECURITY DEFINER function (a copy of the one in use)",
        f"{SCRATCH}.member_role_plpgsql()",
        "yes",
        setup=f"""
        create function {SCRATCH}.member_role_plpgsql() returns iam.org_role
        language plpgsql stable security definer set search_path = '' as $$
        begin return ({READ}); end $$;
        """,
    ),
    Alternative(
        "in_use",
        "iam.member_role() as migrated (plpgsql SECURITY DEFINER, the one in use)",
        "iam.member_role()",
        "yes",
    ),
    Alternative(
        "sql",
        "SQL SECURITY DEFINER function, same query",
        f"{SCRATCH}.member_role_sql()",
        "yes",
        setup=f"""
        create function {SCRATCH}.member_role_sql() returns iam.org_role
        language sql stable security definer set search_path = '' as $$ {READ} $$;
        """,
    ),
    Alternative(
        "sql_covering",
        "SQL SECURITY DEFINER function, covering index (org, user) include (role)",
        f"{SCRATCH}.member_role_sql()",
        "yes (one more index to write)",
        setup="""
        create index bench_membership_covering
          on iam.organization_memberships (organization_id, user_id) include (role);
        """,
    ),
    Alternative(
        "sql_unpinned",
        "SQL SECURITY DEFINER function without `set search_path` (the pinning's share)",
        f"{SCRATCH}.member_role_unpinned()",
        "no: a definer function must pin its search_path",
        setup=f"""
        create function {SCRATCH}.member_role_unpinned() returns iam.org_role
        language sql stable security definer as $$ {READ} $$;
        """,
    ),
    Alternative(
        "exists",
        "the query itself, inline in the statement (what a policy EXISTS runs, "
        "without the function call; needs the request role to read memberships "
        "and users past their own policies)",
        f"({READ} and {{g}} > 0)",
        "no: iam_authenticated would need its own path to every membership row",
    ),
    Alternative(
        "setting",
        "a role cached in a custom setting for the transaction",
        "nullif(current_setting('iam.role', true), '')",
        "no: any role may set any custom setting, so a request role could forge it",
    ),
)


UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# The context readers every policy and the check itself call: as migrated,
# and the earlier form that checked the text against a pattern first.
READERS = (
    (
        "iam.current_user_id() as migrated: nullif(current_setting(...), '')::uuid",
        "iam.current_user_id()",
        "",
    ),
    (
        "the same, checking the text against a uuid pattern first (the earlier form)",
        f"{SCRATCH}.current_user_id_checked()",
        f"""
        create function {SCRATCH}.current_user_id_checked() returns uuid
        language sql stable as $$
          select case when pg_catalog.current_setting('iam.user_id', true)
                      ~ '{UUID_PATTERN}'
                 then pg_catalog.current_setting('iam.user_id', true)::uuid end
        $$;
        grant execute on function {SCRATCH}.current_user_id_checked() to iam_authenticated;
        """,
    ),
)


def _per_call_us(conn: psycopg.Connection[tuple[object, ...]], expression: str, n: int) -> float:
    started = time.perf_counter()
    per_row = expression.format(g="g.g")
    conn.execute(f"select count({per_row}) from generate_series(1, {n}) as g (g)").fetchone()
    return (time.perf_counter() - started) / n * 1e6


def measure_readers(conninfo: str, plan: Plan, calls: int, rounds: int) -> dict[str, float]:
    """Median microseconds per call of each context reader, in interleaved rounds."""
    samples: dict[str, list[float]] = {label: [] for label, _, _ in READERS}
    org = plan.organizations // 2
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCRATCH} cascade")
        conn.execute(f"create schema {SCRATCH}")
        conn.execute(f"grant usage on schema {SCRATCH} to iam_authenticated")
        try:
            for _, _, setup in READERS:
                if setup:
                    conn.execute(setup)
            for _ in range(rounds):
                for label, expression, _ in READERS:
                    with conn.transaction():
                        conn.execute("set local role iam_authenticated")
                        conn.execute(
                            "select set_config('iam.user_id', md5('u' || %s)::uuid::text, true)",
                            (org,),
                        )
                        samples[label].append(_per_call_us(conn, expression, calls * 10))
        finally:
            conn.execute(f"drop schema if exists {SCRATCH} cascade")
    return {label: statistics.median(values) for label, values in samples.items()}


def render_readers(figures: dict[str, float], calls: int, rounds: int) -> str:
    lines = [
        f"Context readers: median of {rounds} interleaved rounds of {calls * 10:,} calls"
        " in one statement.",
        "",
        "| reader | µs per call |",
        "|---|---|",
    ]
    lines += [f"| {label} | {us:.2f} |" for label, us in figures.items()]
    return "\n".join(lines) + "\n"


def measure(conninfo: str, plan: Plan, calls: int, rounds: int) -> dict[str, float]:
    """Median microseconds per call of each alternative, in interleaved rounds."""
    samples: dict[str, list[float]] = {a.key: [] for a in ALTERNATIVES}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCRATCH} cascade")
        conn.execute("drop index if exists iam.bench_membership_covering")
        conn.execute(f"create schema {SCRATCH}")
        conn.execute(f"grant usage on schema {SCRATCH} to iam_authenticated")
        try:
            for alternative in ALTERNATIVES:
                if alternative.key == "sql_covering":
                    continue  # its index would also speed up the others; measured last
                if alternative.setup:
                    conn.execute(alternative.setup)
            for function in ("member_role_plpgsql", "member_role_sql", "member_role_unpinned"):
                conn.execute(
                    f"alter function {SCRATCH}.{function}() owner to iam_definer;"
                    f" grant execute on function {SCRATCH}.{function}() to iam_authenticated"
                )
            # A typical organization's ORG_ADMIN (bench/plan.py: user i of organization i).
            org = plan.organizations // 2
            context = (
                "select set_config('iam.user_id', md5('u' || %(u)s)::uuid::text, true),"
                " set_config('iam.org_id', md5('o' || %(o)s)::uuid::text, true),"
                " set_config('iam.role', 'ORG_ADMIN', true)"
            )
            covering = next(a for a in ALTERNATIVES if a.key == "sql_covering")
            for phase in ("plain", "covering"):
                if phase == "covering":
                    conn.execute(covering.setup)
                    conn.execute("analyze iam.organization_memberships")
                for _ in range(rounds):
                    for alternative in ALTERNATIVES:
                        if (alternative.key == "sql_covering") != (phase == "covering"):
                            continue
                        with conn.transaction():
                            conn.execute("set local role iam_authenticated")
                            conn.execute(context, {"u": org, "o": org})
                            if alternative.key == "exists":
                                # The query needs to read past RLS, as a definer would.
                                conn.execute("reset role")
                            samples[alternative.key].append(
                                _per_call_us(conn, alternative.expression, calls)
                            )
        finally:
            conn.execute(f"drop schema if exists {SCRATCH} cascade")
            conn.execute("drop index if exists iam.bench_membership_covering")
    return {key: statistics.median(values) for key, values in samples.items()}


def render(figures: dict[str, float], calls: int, rounds: int) -> str:
    floor = figures["plpgsql"]
    lines = [
        f"Median of {rounds} interleaved rounds of {calls:,} calls in one statement, "
        "as iam_authenticated with a typical tenant's context.",
        "",
        "| alternative | µs per call | against plpgsql | keeps the guarantees |",
        "|---|---|---|---|",
    ]
    for alternative in ALTERNATIVES:
        us = figures[alternative.key]
        lines.append(
            f"| {alternative.description} | {us:.1f} | {us / floor:.2f} "
            f"| {alternative.keeps_guarantees} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.membership", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="the seeded dataset's scale")
    parser.add_argument("--calls", type=int, default=20000, help="calls per statement (20000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    args = parser.parse_args(argv)
    server = BenchServer.open(args.data_dir)
    try:
        plan = Plan.at_scale(args.scale)
        conninfo = server.prepare("rls_iam_bench", plan, reseed=False, log=print)
        figures = measure(conninfo, plan, args.calls, args.rounds)
        readers = measure_readers(conninfo, plan, args.calls, args.rounds)
    finally:
        server.close()
    print(render(figures, args.calls, args.rounds))
    print(render_readers(readers, args.calls, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
