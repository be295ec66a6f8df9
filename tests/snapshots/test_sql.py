"""The SQL the API sends, committed as text in tests/snapshots/sql/, one file per module.

A change to any statement (a new query, a builder that composes differently, a
constant edited) fails here with the diff, so reviewers read the statement
PostgreSQL will receive, whole, next to the code change. Accept a change with
`make snapshots` (or `pytest tests/snapshots --snapshot-update`) and commit
the rewritten .sql files. The renderer is tests/support/sql_snapshots.py.
"""

from __future__ import annotations

import difflib

import pytest

from tests.support.sql_snapshots import (
    REPO,
    SNAPSHOT_DIR,
    UPDATE_COMMAND,
    api_sql_modules,
    render,
    snapshot_path,
    sql_outside_the_database_layer,
    statements,
)

MODULES = api_sql_modules()


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_snapshot_matches_the_code(path, request):
    expected = render(path)
    snapshot = snapshot_path(path)
    if request.config.getoption("--snapshot-update"):
        SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
        if expected:
            snapshot.write_text(expected)
        else:
            snapshot.unlink(missing_ok=True)
        return
    committed = snapshot.read_text() if snapshot.exists() else ""
    if committed != expected:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{snapshot.relative_to(REPO)} (committed)",
                f"{path.relative_to(REPO)} (the code)",
            )
        )
        pytest.fail(
            f"The SQL of {path.relative_to(REPO)} differs from its snapshot. If the change is"
            f" meant, run `{UPDATE_COMMAND}` and commit the .sql file.\n{diff}",
            pytrace=False,
        )


def test_no_snapshot_without_its_module(request):
    expected = {snapshot_path(path).name for path in MODULES if render(path)}
    stale = sorted(p.name for p in SNAPSHOT_DIR.glob("*.sql") if p.name not in expected)
    if stale and request.config.getoption("--snapshot-update"):
        for name in stale:
            (SNAPSHOT_DIR / name).unlink()
        return
    assert not stale, f"snapshots of modules that no longer exist: {stale}; run `{UPDATE_COMMAND}`"


def test_the_renderer_finds_what_the_api_sends():
    # A renderer that finds nothing would make every snapshot trivially true:
    # the context statement, a route's constant, a builder's page and an
    # inline call must all be there.
    found = {
        (path.stem, statement.name): statement.sql
        for path in MODULES
        for statement in statements(path)
    }
    assert "iam.request_caller(" in found["runner", "SET_TENANT_CONTEXT"]
    assert found["runner", "anon_transaction()"] == "begin"
    assert found["projects", "UPDATE"].startswith("with changed as")
    assert "row_number() over ()" in found["members", "LIST_AFTER"]
    assert "iam.register(" in found["auth", "register()"]
    assert "iam.switch_session_organization(" in found["sessions", "switch_organization()"]


def test_no_sql_outside_the_database_layer():
    found = sql_outside_the_database_layer()
    assert not found, f"SQL belongs in service/db/queries/, found in: {found}"
