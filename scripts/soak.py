#!/usr/bin/env python
"""Load and soak: a bounded mixed workload against `rls-iam serve --workers 2` on 127.0.0.1.

    python scripts/soak.py                       # 60 s, 20 clients, embedded PostgreSQL
    DATABASE_URL=postgresql://... python scripts/soak.py --duration 600

It starts the server (on DATABASE_URL, which must be migrated, or else on an
embedded PostgreSQL in a temporary folder), seeds a few tenants (an
ORG_ADMIN, an ORG_USER and a READ_ONLY member each, and some projects),
then runs a fixed number of concurrent clients, each sending one request
after the other for --duration seconds: reads, writes, role-refused writes,
logins and health checks, each with the status it must get.

It reports the requests, the errors (any other status, a 5xx or a transport
failure; 429 is counted apart, rate limits being a documented answer), the
p50 and p99 latency, and each worker's resident memory after a short
warm-up and at the end. It exits 1 when a bound fails: an error, or a
worker's RSS growing by --max-rss-growth (20%) or more, or a worker gone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "soak-password-" + "x" * 12
HOST = "127.0.0.1"


# ----------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def rls_iam() -> list[str]:
    script = Path(sys.executable).parent / "rls-iam"
    if script.exists():
        return [str(script)]
    found = shutil.which("rls-iam")
    return [found] if found else [sys.executable, "-m", "service.cli"]


@dataclass
class Server:
    workers: int
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def start(self, timeout: float = 120.0) -> None:
        env = dict(os.environ)
        env.setdefault("JWT_ACCESS_SECRET", secrets.token_urlsafe(48))
        # Tokens outlive any soak; the log only says what went wrong.
        env.setdefault("JWT_ACCESS_TTL_SECONDS", "86400")
        env.setdefault("LOG_LEVEL", "warning")
        if not env.get("DATABASE_URL"):
            env["RLS_IAM_DATA_DIR"] = str(self.workdir / "data")
        argv = [*rls_iam(), "serve", "--host", HOST, "--port", str(self.port)]
        argv += ["--workers", str(self.workers)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"rls-iam serve exited:\n{self.tail()}")
            try:
                ready = httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
                if ready and len(self.worker_pids()) == self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"rls-iam serve was not ready (is the database migrated?):\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes: the children of the server that run spawn_main."""
        assert self.process is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"spawn_main" in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The server first: it stops its workers, then an embedded PostgreSQL.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ------------------------------------------------------------------ the tenants


@dataclass
class Actor:
    role: str
    email: str
    user_id: str
    org_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Tenant:
    admin: Actor
    user: Actor
    reader: Actor
    project_ids: list[str]


async def register(http: httpx.AsyncClient, label: str) -> Actor:
    email = f"soak-{label}-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": f"Soak {label}"},
    )
    response.raise_for_status()
    body = response.json()
    return Actor(
        "ORG_ADMIN", email, body["user"]["id"], body["organization"]["id"], body["access_token"]
    )


async def member(http: httpx.AsyncClient, admin: Actor, role: str) -> Actor:
    newcomer = await register(http, role.lower())
    # Members join by accepting an invitation.
    invited = await http.post(
        "/invitations", json={"email": newcomer.email, "role": role}, headers=admin.headers
    )
    invited.raise_for_status()
    accepted = await http.post(
        "/invitations/accept", json={"token": invited.json()["token"]}, headers=newcomer.headers
    )
    accepted.raise_for_status()
    token = accepted.json()["access_token"]
    return Actor(role, newcomer.email, newcomer.user_id, admin.org_id, token)


async def seed(http: httpx.AsyncClient, count: int) -> list[Tenant]:
    tenants = []
    for index in range(count):
        admin = await register(http, f"tenant{index}")
        user = await member(http, admin, "ORG_USER")
        reader = await member(http, admin, "READ_ONLY")
        project_ids = []
        for number in range(5):
            created = await http.post(
                "/projects",
                json={"name": f"seed-{number}", "description": "seeded"},
                headers=admin.headers,
            )
            created.raise_for_status()
            project_ids.append(created.json()["id"])
        tenants.append(Tenant(admin, user, reader, project_ids))
    return tenants


# ----------------------------------------------------------------- the workload


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    throttled: int = 0


OPERATIONS = [
    # (name, weight)
    ("list projects", 25),
    ("read project", 15),
    ("create project", 8),
    ("update project", 8),
    ("delete project", 4),
    ("list members", 10),
    ("me", 10),
    ("organizations", 5),
    ("read-only write", 5),
    ("user delete", 3),
    ("foreign project", 4),
    ("login", 1),
    ("healthz", 2),
]


async def one_request(
    http: httpx.AsyncClient, rng: random.Random, tenants: list[Tenant], mine: list[str]
) -> tuple[str, httpx.Response | None, int]:
    """One operation chosen by weight; returns it, the response and the status it must get."""
    name = rng.choices([n for n, _ in OPERATIONS], weights=[w for _, w in OPERATIONS])[0]
    tenant = rng.choice(tenants)
    actor = rng.choice([tenant.admin, tenant.user, tenant.reader])
    writer = rng.choice([tenant.admin, tenant.user])
    project = rng.choice(tenant.project_ids)
    if name == "list projects":
        return name, await http.get("/projects", headers=actor.headers), 200
    if name == "read project":
        return name, await http.get(f"/projects/{project}", headers=actor.headers), 200
    if name == "create project":
        body = {"name": f"p-{uuid.uuid4().hex[:12]}", "description": "soak"}
        response = await http.post("/projects", json=body, headers=writer.headers)
        if response.status_code == 201:
            mine.append(f"{tenant.admin.org_id}/{response.json()['id']}")
        return name, response, 201
    if name == "update project":
        body = {"description": f"updated {uuid.uuid4().hex[:6]}"}
        response = await http.patch(f"/projects/{project}", json=body, headers=writer.headers)
        return name, response, 200
    if name == "delete project":
        # Only a project this client created: nobody else deletes it.
        own = [key for key in mine if key.startswith(tenant.admin.org_id)]
        if not own:
            return name, await http.get("/projects", headers=tenant.admin.headers), 200
        key = rng.choice(own)
        mine.remove(key)
        target = key.split("/")[1]
        return name, await http.delete(f"/projects/{target}", headers=tenant.admin.headers), 204
    if name == "list members":
        return name, await http.get("/members", headers=actor.headers), 200
    if name == "me":
        return name, await http.get("/auth/me", headers=actor.headers), 200
    if name == "organizations":
        return name, await http.get("/organizations", headers=actor.headers), 200
    if name == "read-only write":
        body = {"name": f"refused-{uuid.uuid4().hex[:8]}"}
        return name, await http.post("/projects", json=body, headers=tenant.reader.headers), 403
    if name == "user delete":
        return name, await http.delete(f"/projects/{project}", headers=tenant.user.headers), 403
    if name == "foreign project":
        other = rng.choice([t for t in tenants if t is not tenant] or [tenant])
        foreign = rng.choice(other.project_ids) if other is not tenant else str(uuid.uuid4())
        return name, await http.get(f"/projects/{foreign}", headers=actor.headers), 404
    if name == "login":
        body = {"email": actor.email, "password": PASSWORD, "organization_id": actor.org_id}
        return name, await http.post("/auth/login", json=body), 200
    return name, await http.get("/healthz"), 200


async def client_loop(
    http: httpx.AsyncClient, seed_value: int, tenants: list[Tenant], deadline: float, tally: Tally
) -> None:
    rng = random.Random(seed_value)  # noqa: S311 - a workload mix, not a secret
    mine: list[str] = []
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            name, response, expected = await one_request(http, rng, tenants, mine)
        except httpx.HTTPError as error:
            tally.errors[f"transport: {type(error).__name__}"] += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.by_operation[name] += 1
        assert response is not None
        tally.statuses[response.status_code] += 1
        if response.status_code == 429:
            tally.throttled += 1
        elif response.status_code != expected:
            tally.errors[f"{name}: {response.status_code} (expected {expected})"] += 1


async def run_workload(
    base_url: str, tenants: list[Tenant], clients: int, seconds: float, tally: Tally
) -> None:
    # Idle connections close before uvicorn's 5 s keep-alive does, so a
    # request never races the server closing the connection under it.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as http:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(client_loop(http, index, tenants, deadline, tally) for index in range(clients))
        )


async def seed_tenants(base_url: str, count: int) -> list[Tenant]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await seed(http, count)


# -------------------------------------------------------------------- reporting


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (2)")
    parser.add_argument("--tenants", type=int, default=4, help="seeded tenants (4)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before RSS at start")
    parser.add_argument("--max-rss-growth", type=float, default=0.20, help="fraction (0.20)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="rls-iam-soak-", dir="/tmp"))
    workdir.chmod(0o755)
    server = Server(workers=args.workers, workdir=workdir)
    database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded PostgreSQL"
    print(f"soak: rls-iam serve --workers {args.workers} on {server.base_url} ({database})")
    failures: list[str] = []
    try:
        server.start()
        tenants = asyncio.run(seed_tenants(server.base_url, args.tenants))
        print(f"seeded {len(tenants)} tenants (3 members and 5 projects each)")
        warmup = Tally()
        asyncio.run(run_workload(server.base_url, tenants, args.clients, args.warmup, warmup))
        workers = server.worker_pids()
        rss_start = {pid: rss_kib(pid) for pid in workers}
        print(f"warm-up: {len(warmup.latencies)} requests in {args.warmup:.0f} s")

        tally = Tally()
        started = time.monotonic()
        asyncio.run(run_workload(server.base_url, tenants, args.clients, args.duration, tally))
        elapsed = time.monotonic() - started
        rss_end = {pid: rss_kib(pid) for pid in workers}
        workers_end = server.worker_pids()
    finally:
        server.stop()
        # The embedded server's files; the log stays until the run passes.
        shutil.rmtree(workdir / "data", ignore_errors=True)

    requests = len(tally.latencies)
    errors = sum(tally.errors.values())
    print(f"duration: {elapsed:.1f} s, clients: {args.clients}")
    print(f"requests: {requests} ({requests / elapsed:.0f}/s)")
    print(f"statuses: {dict(sorted(tally.statuses.items()))}")
    print(f"operations: {dict(sorted(tally.by_operation.items()))}")
    print(f"errors: {errors} (429 counted apart: {tally.throttled})")
    for what, count in tally.errors.most_common(10):
        print(f"  {count} x {what}")
    if requests:
        p50 = statistics.median(tally.latencies) * 1000
        p99 = percentile(tally.latencies, 0.99) * 1000
        slowest = max(tally.latencies) * 1000
        print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {slowest:.1f} ms")
    for pid in workers:
        start, end = rss_start[pid], rss_end[pid]
        if start is None or end is None:
            failures.append(f"worker {pid} is gone")
            print(f"worker {pid}: gone")
            continue
        growth = end / start - 1
        print(f"worker {pid}: RSS {start / 1024:.1f} MiB -> {end / 1024:.1f} MiB ({growth:+.1%})")
        if growth >= args.max_rss_growth:
            failures.append(f"worker {pid} RSS grew {growth:.1%}")
    if workers_end != workers:
        failures.append(f"workers changed: {workers} -> {workers_end}")
    if errors:
        failures.append(f"{errors} errors")
    if requests == 0:
        failures.append("no request completed")
    if failures:
        print(f"FAIL: {'; '.join(failures)} (server log: {server.log})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
