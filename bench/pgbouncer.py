"""A PgBouncer in transaction mode in front of the bench's PostgreSQL, on 127.0.0.1.

As .ci/checks/40-pgbouncer.sh runs one: trust authentication, no reset query
between clients (a context that outlived its transaction would show), and
PgBouncer never runs as root (as root, it runs as the embedded server's
system user, which may reach that server's socket, else as nobody).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.db.embedded import SYSTEM_USER, free_port


def available() -> str | None:
    """Why the PgBouncer figure cannot be measured here, or None when it can."""
    if shutil.which("pgbouncer") is None:
        return "pgbouncer is not installed (apt-get install pgbouncer)"
    return None


class PgBouncer:
    """pool_mode=transaction with server_connections server connections per database."""

    def __init__(self, conninfo: str, server_connections: int, *, embedded: bool) -> None:
        executable = shutil.which("pgbouncer")
        if executable is None:
            raise RuntimeError("pgbouncer is not installed")
        params = conninfo_to_dict(conninfo)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rls-iam-bench-pgbouncer-"))
        self.dir.chmod(0o755)
        server = " ".join(
            f"{key}={params[key]}" for key in ("host", "port", "password") if params.get(key)
        )
        user = str(params.get("user") or "postgres")
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = {server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
pool_mode = transaction
default_pool_size = {server_connections}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
server_reset_query_always = 0
ignore_startup_parameters = extra_float_digits,options
query_wait_timeout = 30
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
"""
        )
        # trust still wants the user listed.
        (self.dir / "userlist.txt").write_text(f'"{user}" ""\n')
        account = None
        if os.geteuid() == 0:
            account = pwd.getpwnam(SYSTEM_USER if embedded else "nobody")
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [executable, str(self.dir / "pgbouncer.ini")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        self.conninfo = make_conninfo(
            "",
            host="127.0.0.1",
            port=str(self.port),
            user=user,
            dbname=str(params.get("dbname") or "postgres"),
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log_tail()}")
            try:
                with psycopg.connect(self.conninfo, connect_timeout=2) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def processes(self) -> list[psutil.Process]:
        try:
            return [psutil.Process(self.process.pid)]
        except psutil.Error:
            return []

    def log_tail(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
