"""`python -m bench.compare REV [REV ...]`: the API's CPU per request, revision against revision.

Each revision of the repository (a commit, a branch, or `.` for the working
tree; `REV:NAME=VALUE,...` adds settings, e.g. `.:LOG_LEVEL=info`) is
unpacked into a folder of its own and served by its own `rls-iam serve`, all
at once, on the bench's seeded database. wrk then runs
the same requests against each server in turn, in interleaved rounds whose
order rotates, so that whatever else the machine does hits every revision
alike. It prints, per revision, the medians of req/s and of the CPU time per
request of the API's workers and of PostgreSQL's server processes: on a
shared machine the CPU per request is the steadier figure. This is how the
changes listed in docs/performance.md ("The API's own CPU") were measured.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.database import BenchServer
from bench.http import REPO, ApiServer, new_secret, token_service
from bench.plan import Plan
from bench.run import Series, Settings, build_workloads, wrk


def unpack(revision: str, into: Path) -> Path:
    """service/ and db/ of revision (`.`: the working tree) in a folder of its own."""
    folder = into / revision.replace("/", "_")
    folder.mkdir(parents=True)
    if revision == ".":
        for part in ("service", "db"):
            shutil.copytree(REPO / part, folder / part)
        return folder
    archive = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "service", "db"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(folder, filter="data")
    return folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("revisions", nargs="+", help="git revisions; `.` is the working tree")
    parser.add_argument("--endpoint", choices=("list", "get"), default="list")
    parser.add_argument("--scale", type=float, default=0.01, help="the dataset (0.01)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    args = parser.parse_args(argv)
    settings = Settings(args.duration, args.rounds, 1, 1, args.connections)
    plan = Plan.at_scale(args.scale)
    server = BenchServer.open(args.data_dir)
    trees = Path(tempfile.mkdtemp(prefix="rls-iam-compare-"))
    servers: list[ApiServer] = []
    try:
        conninfo = server.prepare("rls_iam_bench", plan, reseed=False, log=print)
        secret = new_secret()
        workloads = build_workloads(conninfo, plan, token_service(secret))
        requests = workloads.list_page if args.endpoint == "list" else workloads.get_by_id
        series = {}
        for number, revision in enumerate(args.revisions):
            tree, _, assignments = revision.partition(":")
            environment = dict(pair.split("=", 1) for pair in assignments.split(",") if "=" in pair)
            source = unpack(tree, trees / str(number))
            servers.append(
                ApiServer(
                    conninfo,
                    args.workers,
                    secret,
                    args.data_dir / "serve",
                    source=source,
                    environment=environment,
                )
            )
            series[revision] = Series(revision)
        load_before = machine.load_average()
        pairs = list(zip(args.revisions, servers, strict=True))
        for number in range(args.rounds):
            shift = number % len(pairs)
            for revision, api in pairs[shift:] + pairs[:shift]:
                series[revision].runs.append(
                    wrk(api, requests, settings, connections=args.connections)
                )
            print(
                f"round {number + 1}: "
                + ", ".join(
                    f"{r} {series[r].runs[-1].rps:.0f} req/s"
                    f" {series[r].runs[-1].worker_cpu_ms or 0:.3f} ms"
                    for r in args.revisions
                ),
                file=sys.stderr,
                flush=True,
            )
        path = "/projects" if args.endpoint == "list" else "/projects/{id}"
        print(
            f"GET {path}, {args.workers} workers, wrk {args.connections} connections,"
            f" {args.rounds} interleaved rounds of {args.duration} s;"
            f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
            f" load average {load_before} / {machine.load_average()}"
        )
        print("| revision | req/s | API CPU/req | PostgreSQL CPU/req | errors |")
        print("|---|---:|---:|---:|---:|")
        for revision in args.revisions:
            runs = series[revision]
            cpu = [r.worker_cpu_ms for r in runs.runs if r.worker_cpu_ms is not None]
            pg = [r.postgres_cpu_ms for r in runs.runs if r.postgres_cpu_ms is not None]
            print(
                f"| {revision} | {runs.median('rps'):.0f}"
                f" | {statistics.median(cpu):.3f} ms"
                f" | {statistics.median(pg) if pg else float('nan'):.3f} ms"
                f" | {runs.errors} |"
            )
    finally:
        for api in servers:
            api.stop()
        shutil.rmtree(trees, ignore_errors=True)
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
