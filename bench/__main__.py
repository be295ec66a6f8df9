"""`python -m bench`: seed, measure, report. See docs/performance.md."""

from __future__ import annotations

import argparse
import datetime
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from bench import machine, pgbouncer
from bench.cpu import CpuMeter
from bench.database import BenchServer, remove_bench_rows
from bench.http import ApiServer, new_secret, token_service
from bench.plan import Plan
from bench.report import Report, render, with_kept_section
from bench.run import (
    ApiVsPgbench,
    BehindPooler,
    EndToEnd,
    LoginFlood,
    Series,
    Settings,
    Workloads,
    ab_rounds,
    api_vs_pgbench_round,
    behind_pooler_rounds,
    build_workloads,
    check_plans,
    end_to_end_rounds,
    login_flood_round,
    session_check_rounds,
    wrk,
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="dataset size, 1.0 = full (default)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--clients", type=int, default=4, help="pgbench connections (4)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--output", type=Path, default=Path("docs/performance.md"))
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    parser.add_argument("--reseed", action="store_true", help="seed again even if cached")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10 or args.duration < 1 or args.rounds < 1:
        parser.error("--scale must be in (0, 10], --duration and --rounds at least 1")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Run the cleanups (servers, embedded PostgreSQL) when CI times us out.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    settings = Settings(
        duration=args.duration,
        rounds=args.rounds,
        clients=args.clients,
        threads=min(2, args.clients),
        connections=args.connections,
    )
    plan, small_plan = Plan.at_scale(args.scale), Plan.at_scale(args.scale / 10)
    report = Report(
        command=shlex.join(["python", "-m", "bench", *argv]),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine.describe(),
        database="",
        dataset=plan.tag(),
        small_dataset=small_plan.tag(),
        load_before=machine.load_average(),
        connections=settings.connections,
        settings=(
            f"{settings.duration} s per measurement, {settings.rounds} rounds,"
            f" pgbench {settings.clients} clients, wrk {settings.connections} connections"
        ),
    )
    server = BenchServer.open(args.data_dir)
    try:
        report.database = server.describe()
        conninfo = server.prepare("rls_iam_bench", plan, reseed=args.reseed, log=log)
        small = server.prepare("rls_iam_bench_small", small_plan, reseed=args.reseed, log=log)

        log("plans of the hot queries")
        report.plans = check_plans(conninfo, plan)

        log("pgbench: RLS path against app-filter path")
        report.ab = ab_rounds(conninfo, plan, settings, log)
        log("pgbench: the session check")
        report.session_check = session_check_rounds(conninfo, plan, settings, log)
        remove_bench_rows(conninfo)

        secret = new_secret()
        tokens = token_service(secret)
        workloads = build_workloads(conninfo, plan, tokens)
        small_workloads = build_workloads(small, small_plan, tokens)
        run_dir = args.data_dir / "serve"

        log("HTTP, 1 worker")
        one = ApiVsPgbench(workers=1)
        api = ApiServer(conninfo, 1, secret, run_dir)
        try:
            for number in range(settings.rounds):
                api_vs_pgbench_round(one, conninfo, plan, api, workloads, settings)
                log(f"round {number + 1}: {_ratio(one)}")
            report.rss_mb[1] = api.worker_rss_mb()
        finally:
            api.stop()
        report.api.append(one)

        log("HTTP, 2 workers")
        two = ApiVsPgbench(workers=2)
        report.big_first = Series("big tenant, first page")
        report.ten_first = Series("10-project tenant, first page")
        report.deep = Series("big tenant, deep page")
        report.large_list = Series("typical tenant")
        report.small_list = Series("typical tenant, 10x smaller dataset")
        api = ApiServer(conninfo, 2, secret, run_dir)
        api_small = ApiServer(small, 2, secret, run_dir)
        try:
            for number in range(settings.rounds):
                api_vs_pgbench_round(two, conninfo, plan, api, workloads, settings)
                log(f"round {number + 1}: {_ratio(two)}")
            report.end_to_end, report.end_to_end_skipped = _end_to_end(
                conninfo, api, workloads, settings, secret, run_dir
            )
            report.pooler = _behind_pgbouncer(
                server, conninfo, api, workloads, settings, secret, run_dir
            )
            # The scale probes get rounds of their own: right after a saturating
            # load the machine is still busy, and the first probe would pay for it.
            time.sleep(2)
            probe = 2  # one connection per worker: p50 is service time
            probes = [
                (report.big_first, api, workloads.big_first),
                (report.ten_first, api, workloads.ten_first),
                (report.deep, api, workloads.deep),
                (report.large_list, api, workloads.list_page),
                (report.small_list, api_small, small_workloads.list_page),
            ]
            for number in range(settings.rounds):
                # Rotate the order, so that drift during a round hits every probe alike.
                shift = number % len(probes)
                for series, server_under_test, requests in probes[shift:] + probes[:shift]:
                    series.runs.append(
                        wrk(server_under_test, requests, settings, connections=probe)
                    )
                log(
                    f"scale round {number + 1}: p50 big {report.big_first.runs[-1].p50_ms:.2f} ms,"
                    f" ten {report.ten_first.runs[-1].p50_ms:.2f} ms,"
                    f" deep {report.deep.runs[-1].p50_ms:.2f} ms,"
                    f" typical {report.large_list.runs[-1].p50_ms:.2f} ms,"
                    f" small dataset {report.small_list.runs[-1].p50_ms:.2f} ms"
                )
            report.endpoints.append(two.http)
            for name, requests in (
                ("GET /projects/{id}", workloads.get_by_id),
                ("POST /projects", workloads.create),
                ("GET /auth/me", workloads.me),
            ):
                series = Series(
                    name, [wrk(api, requests, settings, connections=settings.connections)]
                )
                log(f"{name}: {series.runs[0].rps:.0f} req/s")
                report.endpoints.append(series)
            report.flood = LoginFlood()
            for number in range(settings.rounds):
                login_flood_round(report.flood, api, workloads, settings)
                log(
                    f"round {number + 1}: argon2 {report.flood.argon2_per_second[-1]:.1f}/s,"
                    f" login {report.flood.login.runs[-1].rps:.1f}/s,"
                    f" /healthz p99 {report.flood.healthz.runs[-1].p99_ms:.1f} ms"
                )
            report.endpoints.append(report.flood.login)
            report.rss_mb[2] = api.worker_rss_mb()
        finally:
            api.stop()
            api_small.stop()
        report.api.append(two)
        remove_bench_rows(conninfo)
    finally:
        server.close()

    report.load_after = machine.load_average()
    text = render(report)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = args.output.read_text() if args.output.exists() else None
    args.output.write_text(with_kept_section(text, previous))
    log(f"wrote {args.output} in {time.monotonic() - started:.0f} s")
    return 0


# An A/B over HTTP is a comparison only in interleaved rounds; the CI smoke
# run (--rounds 1) skips them, and the report says so.
ONE_ROUND = "one round (--rounds 1), and an A/B over HTTP needs interleaved rounds"


def _end_to_end(
    conninfo: str,
    api: ApiServer,
    workloads: Workloads,
    settings: Settings,
    secret: str,
    run_dir: Path,
) -> tuple[list[EndToEnd], str | None]:
    if settings.rounds < 2:
        log(f"HTTP, RLS against app filter: skipped, {ONE_ROUND}")
        return [], ONE_ROUND
    log("HTTP, 2 workers: the API against the same API with the app-filter design")
    app_filter = ApiServer(conninfo, api.workers, secret, run_dir, app_filter=True)
    try:
        return end_to_end_rounds(api, app_filter, workloads, settings, log), None
    finally:
        app_filter.stop()


def _behind_pgbouncer(
    server: BenchServer,
    conninfo: str,
    api: ApiServer,
    workloads: Workloads,
    settings: Settings,
    secret: str,
    run_dir: Path,
) -> BehindPooler:
    why = pgbouncer.available() or (ONE_ROUND if settings.rounds < 2 else None)
    if why is not None:
        log(f"HTTP behind PgBouncer: skipped, {why}")
        return BehindPooler(skipped=why)
    log("HTTP, 2 workers: GET /projects directly and behind PgBouncer")
    result = BehindPooler()
    transaction_mode = {"DATABASE_POOLER": "transaction"}
    bouncer = pgbouncer.PgBouncer(conninfo, settings.clients, embedded=server.embedded is not None)
    servers: list[ApiServer] = []
    try:
        unprepared = ApiServer(conninfo, api.workers, secret, run_dir, environment=transaction_mode)
        servers.append(unprepared)
        pooled = ApiServer(
            bouncer.conninfo, api.workers, secret, run_dir, environment=transaction_mode
        )
        servers.append(pooled)
        behind_pooler_rounds(
            result,
            [(result.direct, api), (result.unprepared, unprepared), (result.pgbouncer, pooled)],
            CpuMeter(bouncer.processes),
            workloads,
            settings,
            log,
        )
    finally:
        for started in servers:
            started.stop()
        bouncer.stop()
    return result


def _ratio(result: ApiVsPgbench) -> str:
    return (
        f"pgbench {result.pgbench[-1]:.0f} tps, GET /projects {result.http.runs[-1].rps:.0f} req/s"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
