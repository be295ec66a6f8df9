"""HTTP measurements: `rls-iam serve` in a subprocess, wrk against it on 127.0.0.1."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from psycopg.conninfo import conninfo_to_dict

from service.db.embedded import free_port
from service.security.tokens import TokenService

LUA = Path(__file__).resolve().parent / "lua" / "requests.lua"
REPO = Path(__file__).resolve().parent.parent
ISSUER = "rls-iam"
AUDIENCE = "rls-iam-api"


# A day's lifetime: tokens are issued once, before the measurements.
TOKEN_TTL_SECONDS = 86_400


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def api_environment(conninfo: str, secret: str) -> dict[str, str]:
    """The API's settings under the bench: its database, the bench's token secret, quiet logs."""
    return {
        "APP_ENV": "development",
        "DATABASE_URL": conninfo,
        "JWT_ACCESS_SECRET": secret,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        # The API refuses tokens that live longer than its TTL: tell it the bench's.
        "JWT_ACCESS_TTL_SECONDS": str(TOKEN_TTL_SECONDS),
        "LOG_LEVEL": "warning",
    }


def token_service(secret: str) -> TokenService:
    return TokenService(
        secret=secret,
        previous_secrets=(),
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=TOKEN_TTL_SECONDS,
        leeway_seconds=10,
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    body: str | None = None

    def line(self) -> str:
        return "\t".join((self.method, self.path, self.token or "-", self.body or "-"))


class ApiServer:
    """`rls-iam serve --workers N` on a free port of 127.0.0.1, against one bench database."""

    def __init__(
        self,
        conninfo: str,
        workers: int,
        secret: str,
        run_dir: Path,
        *,
        app_filter: bool = False,
        environment: dict[str, str] | None = None,
        source: Path | None = None,
    ) -> None:
        """app_filter: serve bench/appfilter.py's app (the app-filter design on the hot
        reads) with the same server; environment: more settings for the API; source:
        serve the service/ of another tree (a revision, see bench/compare.py)."""
        self.workers = workers
        self.dbname = str(conninfo_to_dict(conninfo).get("dbname", ""))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = run_dir / f"serve-{self.port}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "JWT_", "RATE_LIMIT_"))
        }
        env.update(
            api_environment(conninfo, secret),
            WORKERS=str(workers),
            # One client IP sends every request of a flood; the limiter is
            # not what is measured.
            RATE_LIMIT_IP_PER_MINUTE="1000000000",
            # Each login in flight holds a reservation for its (email,
            # client) pair until its password is checked: a flood of
            # concurrent logins to one account from one client is refused.
            RATE_LIMIT_FAILED_LOGINS_PER_EMAIL="1000000000",
            RLS_IAM_DATA_DIR=str(run_dir),
        )
        env.update(environment or {})
        executable = shutil.which("rls-iam")
        if executable is None:
            raise SystemExit("bench: rls-iam is not installed (pip install -e .)")
        command = [executable, "serve"]
        if app_filter:
            # The same server (service/cli/server.py) with the bench's app; its
            # workers import bench from the working tree.
            command = [sys.executable, "-m", "bench.appfilter"]
            env["PYTHONPATH"] = os.pathsep.join(
                x for x in (str(REPO), env.get("PYTHONPATH", "")) if x
            )
        elif source is not None:
            command = [sys.executable, "-m", "service.cli", "serve"]
            env["PYTHONPATH"] = str(source)
        with open(self.log_path, "wb") as log:
            # cwd: the run folder, so no .env of the working tree leaks in.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                [
                    *command,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                env=env,
                cwd=run_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rls-iam serve exited: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200 and self._workers_up():
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"rls-iam serve not ready after {timeout:.0f} s: {self._log_tail()}")

    def _workers_up(self) -> bool:
        return len(self.worker_processes()) >= self.workers

    def worker_processes(self) -> list[psutil.Process]:
        """The serving processes: the server itself with one worker, else its workers."""
        root = psutil.Process(self.process.pid)
        if self.workers == 1:
            return [root]
        return [
            child
            for child in root.children(recursive=True)
            if "multiprocessing" in " ".join(child.cmdline())
            and "resource_tracker" not in " ".join(child.cmdline())
        ]

    def worker_rss_mb(self) -> list[float]:
        # Requests still in flight when the load generator stopped finish first.
        time.sleep(2)
        return [round(p.memory_info().rss / 2**20, 1) for p in self.worker_processes()]

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers, socket errors and timeouts
    worker_cpu_ms: float | None = None  # API workers' CPU time per request
    postgres_cpu_ms: float | None = None  # PostgreSQL's CPU time per request


def wrk_command(url: str, *, duration: int, connections: int, threads: int) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")
    return [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration}s",
        "--timeout=10s",
        "--latency",
        f"--script={LUA}",
        url,
    ]


class WrkRun:
    """One wrk process over a request file; start() then result(), or run() for both."""

    def __init__(
        self,
        url: str,
        requests: Iterable[Request],
        *,
        duration: int,
        connections: int,
        threads: int = 1,
        delay_ms: int | None = None,
    ) -> None:
        self._file = tempfile.NamedTemporaryFile("w", suffix=".wrk")  # noqa: SIM115
        lines = [r.line() for r in requests]
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        env = dict(os.environ, WRK_REQUESTS=self._file.name, WRK_NONCE=secrets.token_hex(4))
        if delay_ms is not None:
            env["WRK_DELAY_MS"] = str(delay_ms)
        self._argv = wrk_command(url, duration=duration, connections=connections, threads=threads)
        self._env = env
        self._duration = duration
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> WrkRun:
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv
            self._argv, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def result(self) -> WrkResult:
        assert self._process is not None
        try:
            out, err = self._process.communicate(timeout=self._duration + 60)
        finally:
            self._file.close()
        line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
        if self._process.returncode != 0 or line is None:
            raise RuntimeError(
                f"wrk failed ({self._process.returncode}): {err[-1000:]} {out[-1000:]}"
            )
        data = json.loads(line.removeprefix("BENCH_JSON "))
        errors = sum(
            data[k]
            for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
        )
        return WrkResult(
            requests=data["requests"],
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p90_ms=data["p90_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            errors=errors,
        )

    def run(self) -> WrkResult:
        return self.start().result()
