"""`python -m bench.statements`: a tenant request's statements, two against three.

The API's transaction for `GET /projects` (a page of 50, as a typical
tenant's ORG_ADMIN) in one pipeline, run by pgbench in interleaved rounds:

- two statements, as the API sends it when its login role may execute
  iam.request_caller and iam.request_session: the context, which also reads
  the caller's role and activity and checks the token's session, then the page;
- three statements, as it sends it otherwise (and as it did before
  iam.request_caller existed): the context, the caller with the session check,
  the page.

It prints the median transactions per second of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bench.database import BenchServer
from bench.pgbench import PARAMETERS as PARAMS
from bench.pgbench import Script, run_pgbench
from bench.plan import Plan
from service.db.queries import projects
from service.db.runner import READ_CALLER, SET_TENANT_CONTEXT, SET_TENANT_CONTEXT_ONLY


def scripts(plan: Plan) -> tuple[Script, Script]:
    page = projects.LIST_FIRST.replace("%(limit)s", ":limit").strip()
    head = f"\\set o random(3, {plan.organizations})\n\\set u :o\n\\set timeout 5000\n"
    head += "\\set limit 50\n\\startpipeline\n"
    two = f"{head}{SET_TENANT_CONTEXT % PARAMS};\n{page};\n\\endpipeline\n"
    three = f"{head}{SET_TENANT_CONTEXT_ONLY % PARAMS};\n{READ_CALLER};\n{page};\n\\endpipeline\n"
    return Script("two-statements", two), Script("three-statements", three)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="the seeded dataset's scale")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--clients", type=int, default=4, help="pgbench connections (4)")
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    args = parser.parse_args(argv)
    server = BenchServer.open(args.data_dir)
    plan = Plan.at_scale(args.scale)
    two, three = scripts(plan)
    tps: dict[str, list[float]] = {two.name: [], three.name: []}
    try:
        conninfo = server.prepare("rls_iam_bench", plan, reseed=False, log=print)
        for number in range(args.rounds):
            for script in (two, three) if number % 2 == 0 else (three, two):
                result = run_pgbench(
                    conninfo,
                    script,
                    duration=args.duration,
                    clients=args.clients,
                    threads=min(2, args.clients),
                )
                tps[script.name].append(result.tps)
    finally:
        server.close()
    two_tps, three_tps = statistics.median(tps[two.name]), statistics.median(tps[three.name])
    print(f"GET /projects transaction, median of {args.rounds} interleaved rounds:")
    print(f"  two statements (context with the caller, page):   {two_tps:.0f} tps")
    print(f"  three statements (context, caller, page):         {three_tps:.0f} tps")
    print(f"  two / three: {two_tps / three_tps:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
