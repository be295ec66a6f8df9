"""A normalized, fact-by-fact picture of what decides access in schema iam.

Two databases with the same facts enforce the same rules. A fact is a key
(the object and aspect it describes, e.g. `function iam.member_role() body`)
and a value; sorted keys group by object, so a comparison reads as a list of
changed facts. The role that owns schema iam (the migrating role) is written
as OWNER, so a database migrated by another login role still compares equal.

Roles and memberships are cluster-wide: a scratch database on the same
server would see the very same ones, so they are not built but declared
(`expected_role_facts`), from what db/migrations creates and what
docs/dba.md allows (the API's login role may become iam_anon and
iam_authenticated, nothing else). Its grants are per database, so they are
in the snapshot like any other; what it may hold (USAGE on iam, EXECUTE on
the context statement's functions) is declared here too.
"""

from __future__ import annotations

import re

from service.audit.connection import Conn
from service.db.login_role import CONTEXT_FUNCTIONS

OWNER = "<iam owner>"
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer", "iam_deleter")
# Created by a later migration: a database rolled back past it may be on a
# server where it was never created (roles are cluster-wide, and its down
# section keeps it where policies still name it).
LATER_ROLES = ("iam_deleter",)
# Login roles the API may connect as: members of these two, nothing more.
API_MEMBERSHIPS = ("iam_anon", "iam_authenticated")

Facts = dict[str, str]

_KIND = """
case c.relkind when 'r' then 'table' when 'p' then 'partitioned table'
               when 'v' then 'view' when 'm' then 'materialized view'
               when 'S' then 'sequence' when 'f' then 'foreign table'
               else c.relkind::text end
"""

# Every relation in iam: kind, owner, the two RLS flags and its options
# (security_invoker, security_barrier, check_option of views).
_RELATIONS = f"""
select c.relname, {_KIND},
       case when c.relowner = n.nspowner then %(owner)s else pg_get_userbyid(c.relowner) end,
       c.relrowsecurity, c.relforcerowsecurity,
       coalesce(array_to_string(array(select unnest(c.reloptions) order by 1), ', '), ''),
       case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'iam' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
"""

_COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = 'iam' and c.relkind in ('r', 'p', 'v', 'm', 'f')
"""

# A NULL ACL means the built-in default (owner only for relations, owner and
# PUBLIC for functions): acldefault() spells it out, so it compares too.
_GRANTEE = """
case when a.grantee = 0 then 'PUBLIC'
     when a.grantee = n.nspowner then %(owner)s
     else pg_get_userbyid(a.grantee) end
"""

_PRIVILEGES = """
string_agg(a.privilege_type || case when a.is_grantable then ' WITH GRANT OPTION' else '' end,
           ', ' order by a.privilege_type)
"""

_TABLE_GRANTS = f"""
select c.relname, {_KIND}, {_GRANTEE}, {_PRIVILEGES}
from pg_class c join pg_namespace n on n.oid = c.relnamespace,
     aclexplode(coalesce(c.relacl, acldefault(
       case when c.relkind = 'S' then 's' else 'r' end::"char", c.relowner))) a
where n.nspname = 'iam' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
group by 1, 2, 3
"""

_COLUMN_GRANTS = f"""
select c.relname, att.attname, {_GRANTEE}, {_PRIVILEGES}
from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute att on att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped,
     aclexplode(att.attacl) a
where n.nspname = 'iam' and att.attacl is not null
group by 1, 2, 3
"""

_SCHEMA_GRANTS = f"""
select {_GRANTEE}, {_PRIVILEGES}
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

# prosrc is the body exactly as written (pg_dump writes it back verbatim);
# a SQL-standard body (BEGIN ATOMIC) is stored parsed and printed by
# pg_get_functiondef.
_FUNCTIONS = """
select p.oid::regprocedure::text,
       case when p.prosecdef then 'SECURITY DEFINER' else 'SECURITY INVOKER' end,
       case when p.proowner = n.nspowner then %(owner)s else pg_get_userbyid(p.proowner) end,
       coalesce(array_to_string(p.proconfig, ' '), ''),
       l.lanname,
       case p.provolatile when 'i' then 'IMMUTABLE' when 's' then 'STABLE' else 'VOLATILE' end,
       p.proisstrict, p.proleakproof, pg_get_function_result(p.oid),
       case when p.prosqlbody is null then p.prosrc else pg_get_functiondef(p.oid) end
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
where n.nspname = 'iam'
"""

_FUNCTION_GRANTS = f"""
select p.oid::regprocedure::text, {_GRANTEE}
from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
where n.nspname = 'iam' and a.privilege_type = 'EXECUTE'
"""

_TRIGGERS = """
select c.relname, t.tgname,
       case t.tgenabled when 'O' then 'enabled' when 'D' then 'disabled'
                        when 'R' then 'enabled on replica only' when 'A' then 'always enabled' end,
       pg_get_triggerdef(t.oid)
from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'iam' and not t.tgisinternal
"""

# Default privileges of the role that owns iam and of the iam_* roles, for
# iam or every schema: what a function or table created later will grant.
_DEFAULT_PRIVILEGES = f"""
select case when d.defaclrole = n.nspowner then %(owner)s else pg_get_userbyid(d.defaclrole) end,
       case when d.defaclnamespace = 0 then 'every schema' else 'schema iam' end,
       case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences'
                            when 'f' then 'functions' when 'T' then 'types'
                            when 'n' then 'schemas' else d.defaclobjtype::text end,
       {_GRANTEE}, {_PRIVILEGES}
from pg_default_acl d
     cross join (select oid, nspowner from pg_namespace where nspname = 'iam') n,
     aclexplode(d.defaclacl) a
where (d.defaclrole = n.nspowner or pg_get_userbyid(d.defaclrole) = any(%(roles)s))
  and (d.defaclnamespace = 0 or d.defaclnamespace = n.oid)
group by 1, 2, 3, 4
"""

_ROLES = """
select r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls,
       (select coalesce(string_agg(array_to_string(s.setconfig, ' '), ' '), '')
        from pg_db_role_setting s where s.setrole = r.oid)
from pg_roles r where r.rolname = any(%(roles)s)
"""

# Every membership into or out of an iam_* role, except the migrating role's
# own (it creates the roles and switches to them; on PostgreSQL 16+ a role's
# creator holds one implicitly).
_MEMBERSHIPS = """
select pg_get_userbyid(m.member), pg_get_userbyid(m.roleid), m.admin_option
from pg_auth_members m cross join (select nspowner from pg_namespace where nspname = 'iam') n
where (pg_get_userbyid(m.roleid) = any(%(roles)s) or pg_get_userbyid(m.member) = any(%(roles)s))
  and m.member <> n.nspowner
"""


def normalize(expression: str | None) -> str:
    """One line, single spaces: pg_get_expr output, whitespace-insensitive."""
    return re.sub(r"\s+", " ", expression or "").strip()


def normalize_body(body: str | None) -> str:
    """A function body without its layout: `--` comments, spacing and blank lines dropped.

    Line breaks stay, so a difference can be shown line by line. A comment
    changes no behaviour, and a down section that restores a function need
    not restore its comments.
    """
    lines = (
        re.sub(r"\s+", " ", _without_comment(line)).strip() for line in (body or "").splitlines()
    )
    return "\n".join(line for line in lines if line)


def _without_comment(line: str) -> str:
    """The line up to a `--` that is not inside a quoted string."""
    quoted = False
    for i, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i]
    return line


def snapshot(conn: Conn) -> Facts:
    """The facts of schema iam on this connection's database (roles excluded)."""
    params = {"owner": OWNER, "roles": list(RUNTIME_ROLES)}
    facts: Facts = {}
    for name, kind, owner, rls, force, options, view in conn.execute(_RELATIONS, params):
        value = f"owner {owner}"
        if kind in ("table", "partitioned table"):
            value += (
                f", row level security {'enabled' if rls else 'disabled'},"
                f" {'forced' if force else 'not forced'}"
            )
        if options:
            value += f", with ({options})"
        facts[f"{kind} iam.{name}"] = value
        if view is not None:
            facts[f"{kind} iam.{name} query"] = normalize(view)
    for table, column, type_, notnull, default, identity, generated in conn.execute(_COLUMNS):
        value = type_ + (" not null" if notnull else "")
        if identity:
            how = "always" if identity == "a" else "by default"
            value += f" generated {how} as identity"
        if generated:
            value += f" generated always as ({normalize(default)}) stored"
        elif default is not None:
            value += f" default {normalize(default)}"
        facts[f"column iam.{table}.{column}"] = value
    for name, kind, grantee, privileges in conn.execute(_TABLE_GRANTS, params):
        facts[f"grant on {kind} iam.{name} to {grantee}"] = privileges
    for name, column, grantee, privileges in conn.execute(_COLUMN_GRANTS, params):
        facts[f"grant on column iam.{name}.{column} to {grantee}"] = privileges
    for grantee, privileges in conn.execute(_SCHEMA_GRANTS, params):
        facts[f"grant on schema iam to {grantee}"] = privileges
    for table, name, mode, command, roles, using, check in conn.execute(_POLICIES, params):
        head = f'policy "{name}" on iam.{table}'
        facts[head] = f"{mode} {command} to {roles}"
        if using is not None:
            facts[f"{head} using"] = normalize(using)
        if check is not None:
            facts[f"{head} with check"] = normalize(check)
    for row in conn.execute(_FUNCTIONS, params):
        signature, security, owner, config, language, volatility = row[:6]
        strict, leakproof, result, body = row[6:]
        value = f"returns {result}, language {language}, {volatility}, {security}, owner {owner}"
        value += ", STRICT" if strict else ""
        value += ", LEAKPROOF" if leakproof else ""
        value += f", set {config}" if config else ""
        facts[f"function {signature}"] = value
        facts[f"function {signature} body"] = normalize_body(body)
    for signature, grantee in conn.execute(_FUNCTION_GRANTS, params):
        facts[f"grant on function {signature} to {grantee}"] = "EXECUTE"
    for table, name, enabled, definition in conn.execute(_TRIGGERS):
        facts[f"trigger {name} on iam.{table}"] = f"{enabled}: {normalize(definition)}"
    for role, scope, kind, grantee, privileges in conn.execute(_DEFAULT_PRIVILEGES, params):
        facts[f"default privileges of {role} in {scope} on {kind} for {grantee}"] = privileges
    return facts


def role_facts(conn: Conn, api_roles: tuple[str, ...]) -> Facts:
    """The attributes of the iam_* roles and every membership into or out of them."""
    params = {"roles": list(RUNTIME_ROLES)}
    facts: Facts = {}
    for row in conn.execute(_ROLES, params):
        facts[f"role {row[0]}"] = _role_attributes(*row[1:8], settings=row[8])
    for member, role, admin in conn.execute(_MEMBERSHIPS, params):
        label = f"{member} (API login role)" if member in api_roles else member
        facts[f"role {label} member of {role}"] = "with admin option" if admin else "granted"
    return facts


def expected_role_facts(conn: Conn, api_roles: tuple[str, ...]) -> Facts:
    """What db/migrations creates, and what docs/dba.md allows the API's login roles."""
    facts: Facts = {}
    present = {
        str(name)
        for (name,) in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (list(LATER_ROLES),)
        )
    }
    for role in RUNTIME_ROLES:
        if role in LATER_ROLES and role not in present:
            continue
        facts[f"role {role}"] = _role_attributes(
            False, False, False, False, False, False, False, settings=""
        )
    existing = {
        str(name)
        for (name,) in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (list(api_roles),)
        )
    }
    # The context statement's functions as the snapshot names them, where
    # this database has them (one rolled back past a function has no grant
    # on it to expect).
    functions = [
        str(signature)
        for (signature,) in conn.execute(
            "select pg_catalog.to_regprocedure(f)::text from unnest(%s::text[]) f"
            " where pg_catalog.to_regprocedure(f) is not null",
            (list(CONTEXT_FUNCTIONS),),
        )
    ]
    for member in sorted(existing):
        for role in API_MEMBERSHIPS:
            facts[f"role {member} (API login role) member of {role}"] = "granted"
        facts[f"grant on schema iam to {member}"] = "USAGE"
        for signature in functions:
            facts[f"grant on function {signature} to {member}"] = "EXECUTE"
    return facts


def _role_attributes(
    superuser: bool,
    inherit: bool,
    createrole: bool,
    createdb: bool,
    login: bool,
    replication: bool,
    bypassrls: bool,
    *,
    settings: str,
) -> str:
    flags = [
        ("SUPERUSER", superuser),
        ("INHERIT", inherit),
        ("CREATEROLE", createrole),
        ("CREATEDB", createdb),
        ("LOGIN", login),
        ("REPLICATION", replication),
        ("BYPASSRLS", bypassrls),
    ]
    value = " ".join(name if on else "NO" + name for name, on in flags)
    return value + (f", set {settings}" if settings else "")
