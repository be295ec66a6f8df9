"""`python -m bench.session_check`: what the per-request session check costs, alone.

The same measurement as the full bench's "session check" section (see
docs/performance.md), on the bench's seeded dataset, without the HTTP runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

from bench.database import BenchServer
from bench.pgbench import SET_TENANT_CONTEXT_UNCHECKED
from bench.plan import Plan, org_id, session_id, user_id
from bench.report import session_check_lines
from bench.run import Settings, session_check_rounds
from service.db.runner import SET_TENANT_CONTEXT, tenant_context

EXECUTIONS = 2000


def execution_times(conninfo: str, plan: Plan) -> tuple[float, float]:
    """Median server-side execution time (EXPLAIN ANALYZE's "Execution Time", µs) of
    the context statement (which reads the caller) with and without the check, for a
    typical member's context: no network, no client, no planning in the figure."""
    org = 3 + plan.organizations // 2
    timings: dict[str, list[float]] = {"checked": [], "unchecked": []}
    queries = {"checked": SET_TENANT_CONTEXT, "unchecked": SET_TENANT_CONTEXT_UNCHECKED}
    context = tenant_context(user_id(org), org_id(org), 5000, session_id(org))
    with psycopg.connect(conninfo) as conn:
        for number in range(EXECUTIONS):
            for name in ("checked", "unchecked") if number % 2 else ("unchecked", "checked"):
                rows = conn.execute(
                    f"explain (analyze, timing off, format json) {queries[name]}", context
                ).fetchone()
                assert rows is not None
                timings[name].append(rows[0][0]["Execution Time"] * 1000)
        conn.rollback()
    return statistics.median(timings["checked"]), statistics.median(timings["unchecked"])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.session_check", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1, help="dataset size (0.1)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (5)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (6)")
    parser.add_argument("--clients", type=int, default=2, help="pgbench connections (2)")
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    parser.add_argument("--reseed", action="store_true", help="seed again even if cached")
    args = parser.parse_args(argv)
    settings = Settings(
        duration=args.duration,
        rounds=args.rounds,
        clients=args.clients,
        threads=min(2, args.clients),
        connections=1,
    )
    plan = Plan.at_scale(args.scale)
    server = BenchServer.open(args.data_dir)
    try:
        conninfo = server.prepare("rls_iam_bench_session", plan, reseed=args.reseed, log=log)
        check = session_check_rounds(conninfo, plan, settings, log)
        checked_us, unchecked_us = execution_times(conninfo, plan)
    finally:
        server.close()
    print(
        f"dataset: {plan.tag()}; {args.rounds} rounds of {args.duration} s, {args.clients} clients"
    )
    print("\n".join(session_check_lines(check)))
    print(
        f"Server-side execution of the context statement (median of {EXECUTIONS} EXPLAIN ANALYZE"
        f" each): {checked_us:.1f} µs with the check, {unchecked_us:.1f} µs without,"
        f" {checked_us - unchecked_us:+.1f} µs."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
