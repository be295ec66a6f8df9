"""`rls-iam db rollback`: the database it leaves has the policies and grants of its version.

Migrate, roll back, and the database must be exactly what db/migrations up
to that version and the policy files of that version (db/policies/history/)
build: `policies check` says so, and migrating again is clean too, with the
newest version's role matrix.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.audit.check import check
from service.audit.connection import connect
from service.audit.matrix import measure
from service.audit.report import as_json
from service.db.migrate import (
    applied_version,
    apply_policies,
    db_dir,
    migration_versions,
    policy_files,
    policy_history,
    rollback,
    run_dbmate,
)
from service.db.target import conninfo_to_url
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.slow

EXPECTED_MATRIX = json.loads(
    (Path(__file__).parent.parent / "audit" / "expected_matrix.json").read_text()
)


@pytest.fixture
def migrated(server_conninfo: str) -> Iterator[str]:
    name = f"rls_iam_rollback_{uuid.uuid4().hex[:10]}"
    conninfo = create_database(server_conninfo, name)
    try:
        assert run_dbmate(conninfo_to_url(conninfo), "up") == 0
        apply_policies(conninfo)
        yield conninfo
    finally:
        drop_database(server_conninfo, name)


def _matrix(conninfo: str) -> object:
    with connect(conninfo) as conn:
        return json.loads(as_json(measure(conn)))


# One step back, and back past the migration that replaced row locks by
# advisory locks (whose down section restores grants the older policy files hold).
@pytest.mark.parametrize("steps", [1, 3])
def test_a_rolled_back_database_checks_clean_works_and_migrates_again(
    migrated: str, steps: int
) -> None:
    url = conninfo_to_url(migrated)
    for _ in range(steps):
        assert rollback(migrated, url) == 0
    assert applied_version(migrated) == migration_versions()[-1 - steps]

    # The older version's access is its own policy set, which check compares
    # (the expected matrix describes the newest version only).
    result = check(migrated)
    assert result.ok, "\n".join(result.report)

    assert run_dbmate(url, "up") == 0
    apply_policies(migrated)
    result = check(migrated)
    assert result.ok, "\n".join(result.report)
    assert _matrix(migrated) == EXPECTED_MATRIX


# Request roles lost table-level DELETE here; before, they deleted with plain SQL.
DELETE_FUNCTIONS_VERSION = "20261201110000"
DELETES = ("delete_project", "revoke_invitation", "remove_member", "delete_organization")


def test_the_matrix_measures_the_same_deletes_before_the_delete_functions(migrated: str) -> None:
    """Rolled back past them, the matrix measures plain deletes instead, with the same outcome."""
    url = conninfo_to_url(migrated)
    newest = _matrix(migrated)
    while (applied_version(migrated) or "") >= DELETE_FUNCTIONS_VERSION:
        assert rollback(migrated, url) == 0
    before = _matrix(migrated)
    assert isinstance(newest, dict) and isinstance(before, dict)
    for action in (*DELETES, "leave_organization"):
        assert before["matrix"][action] == newest["matrix"][action], action


def test_the_newest_policy_set_is_the_current_policy_files() -> None:
    """A migration that changes access records the set it ends with (docs/dba.md)."""
    history = policy_history()
    newest = history[max(history)]
    assert {p.name: p.read_text() for p in sorted(newest.glob("*.sql"))} == {
        p.name: p.read_text() for p in policy_files()
    }, f"db/policies/ differs from {newest.relative_to(db_dir())}: copy db/policies/*.sql there"
    assert max(history) in migration_versions()
