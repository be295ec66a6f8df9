"""`python -m bench.profile`: where the API's CPU goes on GET /projects, by layer.

The app runs in this process, on the bench's seeded database, without an
HTTP server: requests go straight to the ASGI app, one after another. It
prints the CPU time per request (and that of the request's database call
alone, the same runner the route gets), then a profile of the same requests grouped
by the package that spent the time, so that what bounds the HTTP figures of
docs/performance.md can be read from a script instead of guessed. The HTTP
server's own share (uvicorn, the socket) is not in it; the bench's CPU
columns give the whole.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvloop

from bench.database import BenchServer
from bench.http import api_environment, new_secret, token_service
from bench.plan import Plan
from bench.run import sample_tenants, tenant_tokens
from service.db.queries import projects
from service.db.runner import RequestRunner
from service.http.app import create_app
from service.settings import Settings

ROUNDS = 5
# Grouped by the first path fragment that matches; the rest is "other".
LAYERS = (
    ("/service/", "rls-iam (service/)"),
    ("/fastapi/", "FastAPI"),
    ("/starlette/", "Starlette"),
    ("/pydantic", "pydantic"),
    ("/psycopg_pool/", "psycopg-pool"),
    ("/psycopg/", "psycopg"),
    ("/jwt/", "PyJWT"),
    ("/prometheus_client/", "prometheus-client"),
    ("/asyncio/", "asyncio"),
    ("/logging/", "logging"),
)


def layer_of(filename: str) -> str:
    for fragment, name in LAYERS:
        if fragment in filename:
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "built-ins (C)"
    return "other"


class AsgiDriver:
    """Calls the ASGI app as a server would, for one GET with a bearer token."""

    def __init__(self, app: Any, path: str, token: str) -> None:
        self.app = app
        self.token = token
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 3000),
        }

    async def get(self) -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(dict(self.scope), receive, send)
        return status


async def measure(driver: AsgiDriver, requests: int) -> tuple[float, float]:
    """CPU and wall milliseconds per request, sequential."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        if await driver.get() != 200:
            raise RuntimeError("bench.profile: GET /projects did not answer 200")
    return (
        (time.process_time() - cpu) * 1000 / requests,
        (time.perf_counter() - wall) * 1000 / requests,
    )


async def measure_database(app: Any, token: str, requests: int) -> float:
    """CPU milliseconds per call of the request's database work alone: the runner the
    route gets (pool, pipeline of the context and the page, results), sequential."""
    state = app.state.rls_iam
    claims = state.tokens.verify(token)
    runner = RequestRunner(
        pool=state.pool,
        user_id=claims.user_id,
        org_id=claims.org_id,
        session_id=claims.session_id,
        statement_timeout_ms=state.settings.database_statement_timeout_ms,
        members_only=True,
        request_id="0" * 32,
    )
    cpu = time.process_time()
    for _ in range(requests):
        await projects.list_page(runner, 50, None)
    return (time.process_time() - cpu) * 1000 / requests


async def profile(driver: AsgiDriver, requests: int) -> dict[str, float]:
    """Own CPU time per request (ms) of each layer, from cProfile with a CPU clock."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        await driver.get()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    layers: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, own, _, _) in stats.items():
        layers[layer_of(filename)] += own
    return {name: seconds * 1000 / requests for name, seconds in layers.items()}


async def run(app: Any, driver: AsgiDriver, requests: int) -> None:
    async with app.router.lifespan_context(app):
        await measure(driver, min(200, requests))  # warm: pool, prepared statements
        # Interleaved, so that the machine's other work hits both alike.
        whole, database = [], []
        for _ in range(ROUNDS):
            whole.append(await measure(driver, requests // ROUNDS))
            database.append(await measure_database(app, driver.token, requests // ROUNDS))
        cpu_ms = statistics.median(cpu for cpu, _ in whole)
        wall_ms = statistics.median(wall for _, wall in whole)
        database_ms = statistics.median(database)
        print(f"GET /projects in process, {requests} sequential requests, {ROUNDS} rounds:")
        print(f"  CPU {cpu_ms:.3f} ms per request, wall {wall_ms:.3f} ms")
        print(
            f"  of which the database call (pool, pipeline, results): {database_ms:.3f} ms;"
            f" the rest of the app: {cpu_ms - database_ms:.3f} ms\n"
        )
        layers = await profile(driver, requests)
    total = sum(layers.values())
    print("Own CPU time by layer under cProfile (which inflates Python-heavy code):")
    print(f"  {'layer':<24} {'ms/request':>10} {'share':>7}")
    for name, ms in sorted(layers.items(), key=lambda item: -item[1]):
        print(f"  {name:<24} {ms:>10.3f} {ms / total:>7.1%}")
    print(f"  {'total':<24} {total:>10.3f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per pass (2000)")
    parser.add_argument("--scale", type=float, default=1.0, help="the seeded dataset's scale")
    parser.add_argument("--data-dir", type=Path, default=Path(".rls-iam-bench"))
    args = parser.parse_args(argv)
    server = BenchServer.open(args.data_dir)
    try:
        plan = Plan.at_scale(args.scale)
        conninfo = server.prepare("rls_iam_bench", plan, reseed=False, log=print)
        secret = new_secret()
        token = tenant_tokens(token_service(secret), plan, sample_tenants(plan)[0])[0]
        os.environ.update(api_environment(conninfo, secret))
        app = create_app(Settings())
        # The event loop uvicorn runs the API on.
        uvloop.run(run(app, AsgiDriver(app, "/projects", token), args.requests))
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
