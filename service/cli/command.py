"""The rls-iam command: serve the API, migrate the database, audit its policies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.db.embedded import EmbeddedPostgres
from service.db.login_role import API_ROLE, ensure_api_role, local_password
from service.db.migrate import (
    PolicyLockTimeout,
    apply_policies,
    dump_schema,
    migrate_schema,
    rollback,
    run_dbmate,
)
from service.db.target import DatabaseTarget, resolve_database
from service.settings import Settings, get_settings


def _db(command: str) -> int:
    settings = get_settings()
    if command == "stop":
        EmbeddedPostgres(settings.rls_iam_data_dir).stop()
        return 0
    target = resolve_database(settings)
    if command == "migrate":
        code = migrate_schema(target.conninfo, target.url, "up" if target.embedded else "migrate")
        if code == 0:
            try:
                tables = apply_policies(target.conninfo)
            except PolicyLockTimeout as error:
                print(f"rls-iam db migrate: {error}", file=sys.stderr)
                return 1
            print(f"Applied policies: {', '.join(tables) or 'none (all current)'}")
            _ensure_api_role(target, settings)
        return code
    if command == "rollback":
        try:
            return rollback(target.conninfo, target.url)
        except PolicyLockTimeout as error:
            print(f"rls-iam db rollback: {error}", file=sys.stderr)
            return 1
    if command == "status":
        return run_dbmate(target.url, "status")
    if command == "dump":
        return dump_schema(target.url)
    raise AssertionError(command)


def _ensure_api_role(target: DatabaseTarget, settings: Settings) -> None:
    """The API's login role: always on the embedded server, else when its password is set."""
    if settings.rls_iam_api_password is not None:
        password = settings.rls_iam_api_password.get_secret_value()
    elif target.embedded is not None:
        password = local_password(settings.rls_iam_data_dir)
    else:
        return
    ensure_api_role(target.conninfo, password)
    print(f"API login role: {API_ROLE} (may become iam_anon and iam_authenticated only)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rls-iam", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to bind (HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (PORT, default 3000)")
    serve.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")

    db = commands.add_parser("db", help="migrations and policies")
    db.add_argument(
        "action",
        choices=["migrate", "rollback", "status", "dump", "stop"],
        help="migrate: apply migrations then db/policies; rollback: undo the last migration and "
        "apply the policy files of the version it returns to; "
        "status: list migrations; dump: write db/schema.sql; stop: stop the embedded server",
    )
    policies = commands.add_parser("policies", help="audit the live policies (check, matrix, lint)")
    policies.add_argument("policies_args", nargs=argparse.REMAINDER)
    audit_log = commands.add_parser(
        "audit-log", help="retention: archive old audit events (docs/audit.md)"
    )
    audit_log.add_argument("audit_log_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "db":
        return _db(args.action)
    if args.command == "serve":
        from service.cli.server import serve

        return serve(host=args.host, port=args.port, workers=args.workers)
    if args.command == "policies":
        from service.audit.cli import main as policies_main

        return policies_main(args.policies_args)
    if args.command == "audit-log":
        from service.cli.audit_log import main as audit_log_main

        return audit_log_main(args.audit_log_args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
