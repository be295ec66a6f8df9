"""dbmate migrations and the repeatable policy files, on databases of their own.

Up, all the way down and up again must work on an empty database; applying
db/policies twice changes nothing, and whatever was added by hand is gone
after the next apply: the live database equals the files. db/schema.sql is
what dbmate dumps from a freshly migrated database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.db.migrate import DUMP_STAMPS, apply_policies, db_dir, dump_schema, run_dbmate
from service.db.target import conninfo_to_url
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.slow

# Policies, grants and RLS flags of schema iam, as read from the catalog.
Rules = dict[str, list[tuple[Any, ...]]]


def _migration_count() -> int:
    return len(list((db_dir() / "migrations").glob("*.sql")))


@pytest.fixture
def empty_database(server_conninfo: str) -> Iterator[str]:
    name = f"rls_iam_migrations_{uuid.uuid4().hex[:10]}"
    conninfo = create_database(server_conninfo, name)
    try:
        yield conninfo
    finally:
        drop_database(server_conninfo, name)


def _scalar(conninfo: str, query: str) -> Any:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


def _applied_versions(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select version from iam_migrations.schema_migrations order by version"
        ).fetchall()
    return [str(version) for (version,) in rows]


def _access_rules(conninfo: str) -> Rules:
    """Everything db/policies/ decides: policies, table and column grants, RLS flags."""
    with psycopg.connect(conninfo) as conn:
        policies = conn.execute(
            "select tablename, policyname, permissive, roles::text[], cmd, qual, with_check"
            " from pg_catalog.pg_policies where schemaname = 'iam' order by 1, 2"
        ).fetchall()
        table_grants = conn.execute(
            "select c.relname, a.grantee::regrole::text, a.privilege_type"
            " from pg_catalog.pg_class c, aclexplode(c.relacl) a"
            " where c.relnamespace = 'iam'::regnamespace and a.grantee <> c.relowner"
            " order by 1, 2, 3"
        ).fetchall()
        column_grants = conn.execute(
            "select c.relname, att.attname, a.grantee::regrole::text, a.privilege_type"
            " from pg_catalog.pg_attribute att join pg_catalog.pg_class c on c.oid = att.attrelid,"
            " aclexplode(att.attacl) a"
            " where c.relnamespace = 'iam'::regnamespace order by 1, 2, 3, 4"
        ).fetchall()
        flags = conn.execute(
            "select relname, relrowsecurity, relforcerowsecurity from pg_catalog.pg_class"
            " where relnamespace = 'iam'::regnamespace and relkind = 'r' order by 1"
        ).fetchall()
    return {
        "policies": policies,
        "table_grants": table_grants,
        "column_grants": column_grants,
        "flags": flags,
    }


def test_migrations_go_up_down_and_up_again_on_an_empty_database(empty_database: str) -> None:
    url = conninfo_to_url(empty_database)
    migrations = _migration_count()
    assert migrations >= 3

    assert run_dbmate(url, "up") == 0
    apply_policies(empty_database)
    assert len(_applied_versions(empty_database)) == migrations
    first = _access_rules(empty_database)
    assert len(first["policies"]) > 0 and len(first["table_grants"]) > 0

    for _ in range(migrations):
        assert run_dbmate(url, "rollback") == 0
    assert _applied_versions(empty_database) == []
    assert _scalar(empty_database, "select count(*) from pg_namespace where nspname = 'iam'") == 0
    assert _scalar(empty_database, "select count(*) from pg_policies") == 0

    assert run_dbmate(url, "up") == 0
    apply_policies(empty_database)
    assert len(_applied_versions(empty_database)) == migrations
    assert _access_rules(empty_database) == first


@pytest.fixture(scope="module")
def migrated_database(
    server_conninfo: str,
) -> Iterator[tuple[str, Rules]]:
    """A database of its own, migrated once, with its access rules as first applied.

    The tests below change it by hand and re-apply the files, which puts it back.
    """
    name = f"rls_iam_policies_{uuid.uuid4().hex[:10]}"
    conninfo = create_database(server_conninfo, name)
    try:
        assert run_dbmate(conninfo_to_url(conninfo), "up") == 0
        apply_policies(conninfo)
        yield conninfo, _access_rules(conninfo)
    finally:
        drop_database(server_conninfo, name)


def test_applying_policies_twice_changes_nothing(
    migrated_database: tuple[str, Rules],
) -> None:
    conninfo, first = migrated_database
    assert _access_rules(conninfo) == first
    assert apply_policies(conninfo) == []  # nothing differs: nothing applied
    assert _access_rules(conninfo) == first


HAND_MADE_CHANGES = {
    "extra_policy": "create policy hand_made on iam.projects for select to iam_authenticated"
    " using (true)",
    "policy_for_public": "create policy for_everyone on iam.organizations for select using (true)",
    "dropped_policy": 'drop policy "Admins can delete their organization\'s projects"'
    " on iam.projects",
    "extra_table_grant": "grant update on iam.organizations to iam_authenticated",
    "grant_to_public": "grant select on iam.users to public",
    "extra_column_grant": "grant update (organization_id) on iam.projects to iam_authenticated",
    "rls_not_forced": "alter table iam.projects no force row level security",
    "rls_disabled": "alter table iam.organization_memberships disable row level security",
}


@pytest.mark.parametrize("change", sorted(HAND_MADE_CHANGES))
def test_apply_policies_undoes_a_change_made_by_hand(
    migrated_database: tuple[str, Rules], change: str
) -> None:
    conninfo, expected = migrated_database
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(HAND_MADE_CHANGES[change])
    assert _access_rules(conninfo) != expected
    assert len(apply_policies(conninfo)) == 1  # only the changed table
    assert _access_rules(conninfo) == expected


# ------------------------------------------------------------------ db/schema.sql


def test_committed_schema_sql_is_current(database: Any, tmp_path: Path) -> None:
    """dbmate's dump of a freshly migrated database, the same on every supported major."""
    dumped = tmp_path / "schema.sql"
    assert dump_schema(database.url, dumped) == 0
    committed = db_dir() / "schema.sql"
    assert committed.exists(), "db/schema.sql is missing: run `rls-iam db dump`"
    fresh = dumped.read_text()
    assert not any(line.startswith(DUMP_STAMPS) for line in fresh.splitlines())
    assert any(re.match(r"CREATE POLICY ", line) for line in fresh.splitlines()), "no policies"
    assert committed.read_text() == fresh, (
        "db/schema.sql is stale: run `rls-iam db migrate && rls-iam db dump` and commit it"
    )
