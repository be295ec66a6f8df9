"""`rls-iam serve`: the embedded database when none is configured, then uvicorn."""

from __future__ import annotations

import os
import signal
from types import FrameType

import uvicorn

from service.db.login_role import ensure_api_role, local_password
from service.db.migrate import apply_policies, run_dbmate
from service.db.target import resolve_database
from service.http.protocol import GuardedHttpToolsProtocol
from service.security.signing_secret import signing_secret
from service.settings import get_settings


def serve(host: str | None, port: int | None, workers: int | None) -> int:
    settings = get_settings()
    # Fail on a missing or short secret before anything starts.
    signing_secret(settings)
    started_here = None
    if settings.database_url is None:
        target = resolve_database(settings)
        if run_dbmate(target.url, "up") != 0:
            return 1
        apply_policies(target.conninfo)
        # Migrated as the owner; served as a login role that owns nothing.
        ensure_api_role(target.conninfo, local_password(settings.rls_iam_data_dir))
        started_here = target.embedded
        # Workers are separate processes: hand them the running server.
        os.environ["DATABASE_URL"] = target.api_conninfo
    workers = workers or settings.workers
    # Each worker sizes its hashing threads by how many workers share the cores.
    os.environ["WORKERS"] = str(workers)
    # uvicorn drains in-flight requests on SIGTERM, restores the handler it
    # found and raises the signal again. Finding this one, the process
    # unwinds normally: the finally below stops the embedded server, and
    # the exit status is 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "service.http.app:app_factory",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=20,
            http=GuardedHttpToolsProtocol,
            limit_concurrency=settings.server_max_connections,
            timeout_keep_alive=settings.server_keep_alive_seconds,
        )
    finally:
        if started_here is not None:
            started_here.stop()
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
