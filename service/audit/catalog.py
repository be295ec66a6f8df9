"""A normalized, line-per-fact picture of what decides access in schema iam.

Two databases with the same lines enforce the same rules. Each line names
its object first, so sorted lines group by table and a diff reads as a list
of changed facts. The role that owns schema iam (the migrating role) is
written as OWNER, so a database migrated by another login role still
compares equal.
"""

from __future__ import annotations

import re

from service.audit.connection import Conn

OWNER = "<iam owner>"

# Every relation in iam: kind, owner, and the two RLS flags.
_RELATIONS = """
select c.relname,
       case c.relkind when 'r' then 'table' when 'p' then 'partitioned table'
                      when 'v' then 'view' when 'm' then 'materialized view'
                      when 'S' then 'sequence' when 'f' then 'foreign table'
                      else c.relkind::text end,
       case when c.relowner = n.nspowner then %(owner)s else pg_get_userbyid(c.relowner) end,
       c.relrowsecurity, c.relforcerowsecurity
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'iam' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
"""

# A NULL ACL means the built-in default (owner only for relations, owner and
# PUBLIC for functions): acldefault() spells it out, so it compares too.
_GRANTEE = """
case when a.grantee = 0 then 'PUBLIC'
     when a.grantee = n.nspowner then %(owner)s
     else pg_get_userbyid(a.grantee) end
"""

_TABLE_GRANTS = f"""
select c.relname, {_GRANTEE},
       string_agg(a.privilege_type
                  || case when a.is_grantable then ' WITH GRANT OPTION' else '' end,
                  ', ' order by a.privilege_type)
from pg_class c join pg_namespace n on n.oid = c.relnamespace,
     aclexplode(coalesce(c.relacl, acldefault(
       case when c.relkind = 'S' then 's' else 'r' end::"char", c.relowner))) a
where n.nspname = 'iam' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
group by 1, 2
"""

_COLUMN_GRANTS = f"""
select c.relname, att.attname, {_GRANTEE},
       string_agg(a.privilege_type
                  || case when a.is_grantable then ' WITH GRANT OPTION' else '' end,
                  ', ' order by a.privilege_type)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute att on att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped,
     aclexplode(att.attacl) a
where n.nspname = 'iam' and att.attacl is not null
group by 1, 2, 3
"""

_SCHEMA_GRANTS = f"""
select {_GRANTEE}, string_agg(a.privilege_type, ', ' order by a.privilege_type)
from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
where n.nspname = 'iam'
group by 1
"""

_POLICIES = """
select c.relname, p.polname,
       case when p.polpermissive then 'PERMISSIVE' else 'RESTRICTIVE' end,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                     when 'd' then 'DELETE' else 'ALL' end,
       (select string_agg(case when r = 0 then 'PUBLIC'
                               when r = n.nspowner then %(owner)s
                               else pg_get_userbyid(r) end, ', ' order by 1)
        from unnest(p.polroles) r),
       pg_get_expr(p.polqual, p.polrelid),
       pg_get_expr(p.polwithcheck, p.polrelid)
from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'iam'
"""

_FUNCTIONS = """
select p.oid::regprocedure::text,
       case when p.prosecdef then 'SECURITY DEFINER' else 'SECURITY INVOKER' end,
       case when p.proowner = n.nspowner then %(owner)s else pg_get_userbyid(p.proowner) end,
       coalesce(array_to_string(p.proconfig, ' '), '')
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'iam'
"""

_FUNCTION_GRANTS = f"""
select p.oid::regprocedure::text, {_GRANTEE}
from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
where n.nspname = 'iam' and a.privilege_type = 'EXECUTE'
"""


def normalize(expression: str | None) -> str:
    """One line, single spaces: pg_get_expr output, whitespace-insensitive."""
    return re.sub(r"\s+", " ", expression or "").strip()


def snapshot(conn: Conn) -> list[str]:
    """The sorted facts of schema iam on this connection's database."""
    params = {"owner": OWNER}
    facts: list[str] = []
    for name, kind, owner, rls, force in conn.execute(_RELATIONS, params):
        facts.append(
            f"{kind} iam.{name}: owner {owner}, row level security "
            f"{'enabled' if rls else 'disabled'}, {'forced' if force else 'not forced'}"
        )
    for name, grantee, privileges in conn.execute(_TABLE_GRANTS, params):
        facts.append(f"grant on iam.{name} to {grantee}: {privileges}")
    for name, column, grantee, privileges in conn.execute(_COLUMN_GRANTS, params):
        facts.append(f"grant on iam.{name} ({column}) to {grantee}: {privileges}")
    for grantee, privileges in conn.execute(_SCHEMA_GRANTS, params):
        facts.append(f"grant on schema iam to {grantee}: {privileges}")
    for table, name, mode, command, roles, using, check in conn.execute(_POLICIES, params):
        head = f'policy on iam.{table} "{name}"'
        facts.append(f"{head}: {mode} {command} to {roles}")
        if using is not None:
            facts.append(f"{head}: using {normalize(using)}")
        if check is not None:
            facts.append(f"{head}: with check {normalize(check)}")
    for signature, security, owner, config in conn.execute(_FUNCTIONS, params):
        settings = f", set {config}" if config else ""
        facts.append(f"function {signature}: {security}, owner {owner}{settings}")
    for signature, grantee in conn.execute(_FUNCTION_GRANTS, params):
        facts.append(f"grant on function {signature} to {grantee}: EXECUTE")
    return sorted(facts)
