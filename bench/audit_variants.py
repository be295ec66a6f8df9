"""Variants of the audit triggers and of the event's indexes, for `python -m bench.audit_cost`.

Each variant changes one thing of the migrated design on the bench database
(as the superuser, for its turn only), so its figures next to those of the
migrated triggers and of no triggers at all say what that one thing costs,
or would save. None of them is a design the product may ship unless its
row says so: some record less, some drop a read path's index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations"
# The trigger functions as first migrated, before the cheaper ones replaced them.
FIRST = MIGRATIONS / "20261130150000_create_audit_events.sql"
FUNCTIONS = ("iam.audit_membership_change()", "iam.audit_project_change()")
PAIR = "iam.audit_pair(text, anyelement, anyelement)"


@dataclass(frozen=True)
class Alternative:
    name: str  # the row of the table
    sql: str  # run on top of the migrated design; Migrated.restore undoes it


def _first_functions() -> str:
    up = FIRST.read_text().split("-- migrate:down", 1)[0]
    bodies = re.findall(
        r"^create function (iam\.audit_(?:membership|project)_change\(\).*?^\$\$;)",
        up,
        re.MULTILINE | re.DOTALL,
    )
    assert len(bodies) == 2, "the first audit migration changed shape"
    return "".join(f"create or replace function {body}\n" for body in bodies) + (
        f"alter function {PAIR} immutable;\n"
    )


# The migrated functions' statements with `changes` left empty: what
# building the JSON costs.
_NO_CHANGES = """
create or replace function iam.audit_project_change() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'INSERT' then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.created', 'project', new.id,
            '{}', iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    if (old.name, old.description, old.created_by_user_id)
       is not distinct from (new.name, new.description, new.created_by_user_id) then
      return null;
    end if;
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.updated', 'project', new.id,
            '{}', iam.current_request_id());
  end if;
  return null;
end $$;
create or replace function iam.audit_membership_change() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'UPDATE' and old.role is distinct from new.role then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'member.role_changed', 'member',
            new.user_id, '{}', iam.current_request_id());
  end if;
  return null;
end $$;
"""

_EMPTY = "".join(
    f"create or replace function {f} returns trigger language plpgsql security definer"
    " set search_path = '' as $$ begin return null; end $$;\n"
    for f in FUNCTIONS
)


def alternatives() -> tuple[Alternative, ...]:
    return (
        Alternative("first migrated functions", _first_functions()),
        Alternative("no actor index", "drop index iam.audit_events_org_actor_idx;"),
        Alternative(
            "primary key only (no actor, no target index)",
            "drop index iam.audit_events_org_actor_idx;"
            " drop index iam.audit_events_org_target_idx;",
        ),
        Alternative("changes left empty", _NO_CHANGES),
        Alternative(
            "event id from random(), not gen_random_uuid()",
            "alter table iam.audit_events alter column id"
            " set default md5(random()::text || clock_timestamp()::text)::uuid;",
        ),
        Alternative(
            "search_path not pinned",
            "".join(f"alter function {f} reset search_path;\n" for f in FUNCTIONS),
        ),
        Alternative("functions that record nothing", _EMPTY),
    )


@dataclass(frozen=True)
class Migrated:
    """The migrated definitions a variant may change, to put back after its turn."""

    functions: tuple[str, ...]
    triggers: tuple[str, ...]
    indexes: tuple[str, ...]
    id_default: str

    @classmethod
    def capture(cls, conninfo: str) -> Migrated:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            functions = tuple(
                str(row[0])
                for row in conn.execute(
                    "select pg_get_functiondef(f::regprocedure) from unnest(%s::text[]) as f",
                    ([*FUNCTIONS, PAIR],),
                )
            )
            # OR REPLACE: a variant may have redefined (or dropped) a trigger.
            triggers = tuple(
                str(row[0]).replace("CREATE TRIGGER ", "CREATE OR REPLACE TRIGGER ", 1)
                for row in conn.execute(
                    "select pg_get_triggerdef(t.oid) from pg_trigger as t"
                    " where not t.tgisinternal and t.tgfoid = any("
                    "select f::regprocedure::oid from unnest(%s::text[]) as f)",
                    (list(FUNCTIONS),),
                )
            )
            indexes = tuple(
                str(row[0]).replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
                for row in conn.execute(
                    "select indexdef from pg_indexes where schemaname = 'iam'"
                    " and tablename = 'audit_events' and indexname <> 'audit_events_pkey'"
                )
            )
            row = conn.execute(
                "select pg_get_expr(d.adbin, d.adrelid) from pg_attrdef as d"
                " join pg_attribute as a on a.attrelid = d.adrelid and a.attnum = d.adnum"
                " where d.adrelid = 'iam.audit_events'::regclass and a.attname = 'id'"
            ).fetchone()
        assert row is not None and indexes and triggers
        return cls(functions, triggers, indexes, str(row[0]))

    def restore(self, conninfo: str) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for statement in (*self.functions, *self.triggers, *self.indexes):
                conn.execute(sql.SQL(statement))
            conn.execute(
                sql.SQL("alter table iam.audit_events alter column id set default {}").format(
                    sql.SQL(self.id_default)
                )
            )
