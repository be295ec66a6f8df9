"""The `rls-iam policies` console script: wiring and exit codes."""

from __future__ import annotations

import subprocess

from tests.support.database import TestDatabase


def rls_iam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["rls-iam", "policies", *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_script_lints_a_clean_database_with_exit_0(database: TestDatabase) -> None:
    result = rls_iam("lint", "--database-url", database.conninfo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: no findings")


def test_console_script_prints_the_matrix_as_json(database: TestDatabase) -> None:
    result = rls_iam("matrix", "--format", "json", "--database-url", database.conninfo)
    assert result.returncode == 0, result.stderr
    assert '"delete_project"' in result.stdout


def test_unreachable_database_exits_2_with_one_clear_line() -> None:
    result = rls_iam("lint", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("rls-iam policies lint: cannot connect to the database")
