"""Each audit variant of `python -m bench.audit_cost --alternatives` is undone after its turn.

The variants run one after the other on one bench database; a definition a
variant leaves behind would be measured as part of the next one, and of the
migrated design's rounds after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bench.audit_variants import FUNCTIONS, PAIR, Alternative, Migrated, alternatives
from tests.support.database import migrated_database

# A variant no committed one is, but any could become: the projects trigger
# redefined to fire on inserts only.
INSERT_ONLY_TRIGGER = Alternative(
    "projects trigger on inserts only",
    "drop trigger projects_audit on iam.projects;"
    " create trigger projects_audit after insert on iam.projects"
    " for each row execute function iam.audit_project_change();",
)


@pytest.fixture(scope="module")
def migrated(server_conninfo: str) -> Iterator[str]:
    with migrated_database(server_conninfo, "audit_variants") as conninfo:
        yield conninfo


def _design(conninfo: str) -> list[tuple[str, ...]]:
    """What a variant may change: function definitions and settings, triggers, indexes, defaults."""
    with psycopg.connect(conninfo) as conn:
        return [
            tuple(str(value) for value in row)
            for row in conn.execute(
                "select 'function', pg_get_functiondef(f::regprocedure),"
                " coalesce(array_to_string(p.proconfig, ','), ''), p.provolatile::text"
                " from unnest(%s::text[]) as f join pg_proc as p on p.oid = f::regprocedure"
                " union all"
                " select 'trigger', pg_get_triggerdef(t.oid), '', ''"
                " from pg_trigger as t where not t.tgisinternal and t.tgrelid = any("
                "'{iam.projects,iam.organization_memberships,iam.organizations,"
                "iam.invitations}'::regclass[])"
                " union all"
                " select 'index', indexdef, '', '' from pg_indexes"
                " where schemaname = 'iam' and tablename = 'audit_events'"
                " union all"
                " select 'default', pg_get_expr(d.adbin, d.adrelid), '', ''"
                " from pg_attrdef as d where d.adrelid = 'iam.audit_events'::regclass"
                " order by 1, 2",
                ([*FUNCTIONS, PAIR],),
            ).fetchall()
        ]


@pytest.mark.parametrize(
    "variant", [*alternatives(), INSERT_ONLY_TRIGGER], ids=lambda variant: variant.name
)
def test_restore_undoes_the_variant(migrated: str, variant: Alternative) -> None:
    before = _design(migrated)
    saved = Migrated.capture(migrated)
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute(variant.sql.encode())
    assert _design(migrated) != before, "the variant changed nothing this test looks at"

    saved.restore(migrated)

    assert _design(migrated) == before
