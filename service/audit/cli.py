"""`rls-iam policies check | matrix | lint`.

Exit codes: 0 clean, 1 findings (drift, lint), 2 the audit could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import psycopg

from service.audit.check import check
from service.audit.connection import AuditError, connect, target_conninfo
from service.audit.lint import lint
from service.audit.matrix import measure
from service.audit.report import as_json, as_markdown, as_text

CLEAN, FINDINGS, CANNOT_RUN = 0, 1, 2

RENDERERS = {"text": as_text, "markdown": as_markdown, "json": as_json}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rls-iam policies", description="Audit the isolation rules of a live database."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    url_help = "libpq URL or conninfo (default: DATABASE_URL, else the embedded server)"

    check_cmd = commands.add_parser(
        "check", help="compare everything that decides access with db/ (exit 1 on drift)"
    )
    check_cmd.add_argument("--database-url", help=url_help)
    check_cmd.add_argument(
        "--api-role",
        action="append",
        dest="api_roles",
        help="a login role the API connects as, allowed to become iam_anon and"
        " iam_authenticated (repeatable; default: RLS_IAM_API_ROLE, else rls_iam_api)",
    )

    matrix_cmd = commands.add_parser(
        "matrix", help="try every action as every role in a rolled-back transaction"
    )
    matrix_cmd.add_argument("--format", choices=sorted(RENDERERS), default="text")
    matrix_cmd.add_argument("--database-url", help=url_help)

    lint_cmd = commands.add_parser("lint", help="flag what RLS reviewers flag (exit 1 if any)")
    lint_cmd.add_argument("--database-url", help=url_help)
    return parser


def _check(conninfo: str, api_roles: tuple[str, ...]) -> int:
    result = check(conninfo, api_roles)
    if result.ok:
        at = f" at {result.version}" if result.version else ""
        print(
            f"OK: {result.database}{at} matches db/migrations and db/policies"
            f" ({result.facts} facts)"
        )
        return CLEAN
    count = len(result.differences)
    print(
        f"DRIFT: {result.database} differs from db/migrations and db/policies"
        f" in {count} fact{'s' if count > 1 else ''}:"
    )
    print("\n".join(result.report))
    return FINDINGS


def _matrix(conninfo: str, output_format: str) -> int:
    with connect(conninfo) as conn:
        matrix = measure(conn)
    sys.stdout.write(RENDERERS[output_format](matrix))
    return CLEAN


def _lint(conninfo: str) -> int:
    with connect(conninfo) as conn:
        result = lint(conn)
    for finding in result.findings:
        print(finding)
    if result.findings:
        return FINDINGS
    print(
        f"OK: no findings ({result.tables} tables, {result.policies} policies,"
        f" {result.definer_functions} SECURITY DEFINER functions)"
    )
    return CLEAN


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[str], int]
    if args.command == "check":
        api_roles = tuple(args.api_roles or [os.environ.get("RLS_IAM_API_ROLE") or "rls_iam_api"])

        def run(conninfo: str) -> int:
            return _check(conninfo, api_roles)
    elif args.command == "matrix":
        output_format: str = args.format

        def run(conninfo: str) -> int:
            return _matrix(conninfo, output_format)
    else:
        run = _lint
    try:
        return run(target_conninfo(args.database_url))
    except AuditError as error:
        print(f"rls-iam policies {args.command}: {error}", file=sys.stderr)
    except psycopg.Error as error:
        print(f"rls-iam policies {args.command}: database error: {error}", file=sys.stderr)
    return CANNOT_RUN
