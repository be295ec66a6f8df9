"""The rules of thumb RLS reviewers apply, checked on the live catalogs of schema iam.

Each finding is one line that names the object and what to change. The
rules:
- every table in iam has row level security enabled and forced;
- no policy applies to PUBLIC (a policy names the role it is for);
- the context helpers are called as (SELECT iam.f()) in policy expressions,
  so PostgreSQL evaluates them once per statement (an initplan), not once
  per row;
- SECURITY DEFINER functions pin search_path to '' and are not executable
  by PUBLIC;
- views use security_invoker, so the caller's policies apply through them;
- the key columns that policies compare (organization_id, user_id, id) lead
  some index, so a policy never forces a sequential scan;
- the runtime roles are not superusers, have no BYPASSRLS and own nothing
  in iam (an owner skips RLS unless it is forced);
- no policy for a request role, iam_deleter (which runs the requests'
  deletes) or PUBLIC is always true or always false;
- one permissive policy per table, role and command (several are ORed and
  each is evaluated: a loose one silently widens the others);
- no bare current_setting() in a policy (read the context through the
  helpers, wrapped, once per statement);
- no view or materialized view exposes an iam table without
  security_invoker (a materialized view has no RLS at all), no foreign
  table in iam;
- no TRUNCATE, REFERENCES or TRIGGER for a request role or PUBLIC, which
  RLS does not govern, and no request role may read a column whose name
  says it holds a secret;
- no request role is a member (directly or not) of iam_definer,
  iam_deleter or of a role that owns iam objects;
- no request role (or PUBLIC) holds table-level UPDATE, DELETE or MAINTAIN
  on an iam table: any of them lets it LOCK the table in every mode, ACCESS
  EXCLUSIVE included, and stall every tenant (column grants do not);
- no SECURITY DEFINER function is owned by a superuser or a BYPASSRLS role;
- every function in iam pins search_path, except SQL functions that run
  with the caller's rights (a SET clause stops PostgreSQL from inlining
  them, and they gain nothing from a shadowed name);
- no function in iam is executable by PUBLIC.

docs/dba.md maps these rules to Supabase's splinter lints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.audit.connection import Conn

HELPERS = ("current_user_id", "current_org_id", "member_role", "member_role_for_write")
INDEXED_COLUMNS = ("organization_id", "user_id", "id")
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer", "iam_deleter")
# The roles that own the SECURITY DEFINER functions: becoming one would
# leave the callers' checks behind.
DEFINER_ROLES = ("iam_definer", "iam_deleter")
REQUEST_ROLES = ("iam_anon", "iam_authenticated")
# The roles whose policies decide what a request may do: the request roles,
# and iam_deleter, which the request's deletes run as (with its context).
ACTING_FOR_REQUESTS = (*REQUEST_ROLES, "iam_deleter")
UNGOVERNED = ("TRUNCATE", "REFERENCES", "TRIGGER")
# Table-level privileges that also allow every LOCK TABLE mode (TRUNCATE,
# the fourth, is flagged as ungoverned already; MAINTAIN exists from 17 on).
LOCKING = ("UPDATE", "DELETE", "MAINTAIN")
SECRET_COLUMN = re.compile(r"password|passwd|secret|token|hash|api_?key|private_key")
_BARE_SETTING = re.compile(r"\bcurrent_setting\(")

_HELPER_CALL = re.compile(r"\biam\.(" + "|".join(HELPERS) + r")\(")


@dataclass(frozen=True)
class LintResult:
    findings: list[str]
    tables: int
    policies: int
    definer_functions: int


def lint(conn: Conn) -> LintResult:
    findings: list[str] = []
    tables = _tables(conn, findings)
    policies = _policies(conn, findings)
    definers = _definer_functions(conn, findings)
    _views(conn, findings)
    _indexes(conn, findings)
    _roles(conn, findings)
    _always_true_or_false(conn, findings)
    _several_permissive(conn, findings)
    _ungoverned_grants(conn, findings)
    _locking_grants(conn, findings)
    _secret_columns(conn, findings)
    _request_role_memberships(conn, findings)
    _definer_owners(conn, findings)
    _functions(conn, findings)
    return LintResult(findings, tables, policies, definers)


def _tables(conn: Conn, findings: list[str]) -> int:
    rows = conn.execute(
        "select c.relname, c.relrowsecurity, c.relforcerowsecurity"
        " from pg_class c where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p')"
        " order by 1"
    ).fetchall()
    for name, enabled, forced in rows:
        if not enabled:
            findings.append(f"iam.{name}: row level security is not enabled")
        if not forced:
            findings.append(
                f"iam.{name}: row level security is not forced (its owner bypasses the policies)"
            )
    return len(rows)


def _policies(conn: Conn, findings: list[str]) -> int:
    rows = conn.execute(
        "select c.relname, p.polname, 0 = any(p.polroles),"
        " pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)"
        " from pg_policy p join pg_class c on c.oid = p.polrelid"
        " where c.relnamespace = 'iam'::regnamespace order by 1, 2"
    ).fetchall()
    for table, name, for_public, using, check in rows:
        where = f'iam.{table} policy "{name}"'
        if for_public:
            findings.append(f"{where}: applies to PUBLIC; name the role it is for (TO ...)")
        for clause, expression in (("USING", using), ("WITH CHECK", check)):
            for helper in unwrapped_helper_calls(expression or ""):
                findings.append(
                    f"{where}: {clause} calls iam.{helper}() per row;"
                    f" write (select iam.{helper}()) so it runs once per statement"
                )
            if _BARE_SETTING.search(expression or ""):
                findings.append(
                    f"{where}: {clause} reads current_setting() directly, once per row;"
                    " read the context through (select iam.current_user_id()) or"
                    " (select iam.current_org_id())"
                )
    return len(rows)


def unwrapped_helper_calls(expression: str) -> list[str]:
    """Helper calls in pg_get_expr text that are not the whole of a scalar subquery.

    pg_get_expr prints (select iam.f()) as "( SELECT iam.f() AS f)", so a
    wrapped call is always preceded by "SELECT ".
    """
    return [
        match.group(1)
        for match in _HELPER_CALL.finditer(expression)
        if not expression[: match.start()].endswith("SELECT ")
    ]


def _definer_functions(conn: Conn, findings: list[str]) -> int:
    rows = conn.execute(
        "select p.oid::regprocedure::text, p.proconfig,"
        " exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        "         where a.grantee = 0 and a.privilege_type = 'EXECUTE')"
        " from pg_proc p where p.pronamespace = 'iam'::regnamespace and p.prosecdef order by 1"
    ).fetchall()
    for signature, config, public_execute in rows:
        paths = [c for c in config or [] if c.startswith("search_path=")]
        if paths != ['search_path=""']:
            found = paths[0].removeprefix("search_path=") if paths else "not set"
            findings.append(
                f"function {signature}: SECURITY DEFINER with search_path {found};"
                " add SET search_path = ''"
            )
        if public_execute:
            findings.append(
                f"function {signature}: SECURITY DEFINER executable by PUBLIC;"
                " revoke execute from public and grant it to the role that needs it"
            )
    return len(rows)


def _views(conn: Conn, findings: list[str]) -> None:
    """Views (any schema) reading iam with their owner's rights; matviews; foreign tables."""
    rows = conn.execute(
        "select distinct v.oid::regclass::text, v.relkind from pg_class v"
        " join pg_rewrite r on r.ev_class = v.oid"
        " join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid"
        " join pg_class t on t.oid = d.refobjid and t.relnamespace = 'iam'::regnamespace"
        " where v.relkind in ('v', 'm') and t.oid <> v.oid"
        " and (v.relkind = 'm' or not coalesce((select lower(split_part(o, '=', 2))"
        "        in ('true', 'on', '1', 'yes')"
        "      from unnest(v.reloptions) o where o like 'security_invoker=%%'), false))"
        " union all"
        " select c.oid::regclass::text, c.relkind from pg_class c"
        " where c.relnamespace = 'iam'::regnamespace and c.relkind = 'f'"
        " order by 1"
    ).fetchall()
    for name, kind in rows:
        if kind == "v":
            findings.append(
                f"view {name}: runs with its owner's rights, past the caller's"
                " policies; set security_invoker = true"
            )
        elif kind == "m":
            findings.append(
                f"materialized view {name}: holds iam rows with no row level security;"
                " use a view with security_invoker = true, or keep it out of every grant"
            )
        else:
            findings.append(
                f"foreign table {name}: row level security cannot be forced on it;"
                " keep foreign tables out of schema iam"
            )


def _indexes(conn: Conn, findings: list[str]) -> None:
    # pg_depend records every column a policy expression reads, including
    # those of tables in its subqueries.
    rows = conn.execute(
        "select t.relname, a.attname, string_agg(distinct p.polname, '; ')"
        " from pg_depend d"
        " join pg_policy p on p.oid = d.objid"
        " join pg_class t on t.oid = d.refobjid"
        " join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid"
        " where d.classid = 'pg_policy'::regclass and d.refclassid = 'pg_class'::regclass"
        "   and t.relnamespace = 'iam'::regnamespace and a.attname = any(%s)"
        "   and not exists (select 1 from pg_index i"
        "                   where i.indrelid = t.oid and i.indkey[0] = a.attnum)"
        " group by 1, 2 order by 1, 2",
        (list(INDEXED_COLUMNS),),
    ).fetchall()
    for table, column, policies in rows:
        findings.append(
            f"iam.{table}.{column}: compared by policy {policies!r} but no index leads with it"
        )


def _roles(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select r.rolname, r.rolsuper, r.rolbypassrls,"
        " (select string_agg(c.relname, ', ' order by c.relname) from pg_class c"
        "  where c.relowner = r.oid and c.relnamespace = 'iam'::regnamespace"
        "    and c.relkind in ('r', 'p', 'v', 'm'))"
        " from pg_roles r where r.rolname = any(%s) order by 1",
        (list(RUNTIME_ROLES),),
    ).fetchall()
    for name, superuser, bypass, owned in rows:
        if superuser:
            findings.append(f"role {name}: is a superuser, so no policy applies to it")
        if bypass:
            findings.append(f"role {name}: has BYPASSRLS, so no policy applies to it")
        if owned:
            findings.append(f"role {name}: owns iam relations ({owned})")


_REQUEST_POLICIES = """
select c.relname, p.polname, p.polpermissive,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                     when 'd' then 'DELETE' else 'ALL' end,
       case when 0 = any(p.polroles) then array['PUBLIC']::text[]
            else array(select pg_get_userbyid(r) from unnest(p.polroles) r order by 1) end,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
from pg_policy p join pg_class c on c.oid = p.polrelid
where c.relnamespace = 'iam'::regnamespace order by 1, 2
"""


def _request_policies(conn: Conn) -> list[tuple[str, str, bool, str, list[str], str, str]]:
    return [
        (t, n, perm, cmd, roles, using or "", check or "")
        for t, n, perm, cmd, roles, using, check in conn.execute(_REQUEST_POLICIES).fetchall()
        if "PUBLIC" in roles or set(roles) & set(ACTING_FOR_REQUESTS)
    ]


def _always_true_or_false(conn: Conn, findings: list[str]) -> None:
    """A constant USING or WITH CHECK for a request role: every row, or (by accident) none."""
    for table, name, permissive, _, _, using, check in _request_policies(conn):
        for clause, expression in (("USING", using), ("WITH CHECK", check)):
            constant = re.sub(r"[\s()]", "", expression).lower()
            if constant in ("true", "1=1"):
                findings.append(
                    f'iam.{table} policy "{name}": {clause} is always true for a request role;'
                    " every row of every organization passes"
                )
            elif constant in ("false", "1=0", "1<>1") and permissive:
                findings.append(
                    f'iam.{table} policy "{name}": {clause} is always false; a permissive'
                    " policy that lets nothing through is dead or a mistake (drop it, or make"
                    " it restrictive)"
                )


def _several_permissive(conn: Conn, findings: list[str]) -> None:
    seen: dict[tuple[str, str, str], list[str]] = {}
    for table, name, permissive, command, roles, _, _ in _request_policies(conn):
        if not permissive:
            continue
        targets = (
            ACTING_FOR_REQUESTS
            if "PUBLIC" in roles
            else [r for r in roles if r in ACTING_FOR_REQUESTS]
        )
        commands = ("SELECT", "INSERT", "UPDATE", "DELETE") if command == "ALL" else (command,)
        for role in targets:
            for each in commands:
                seen.setdefault((table, role, each), []).append(name)
    for (table, role, command), names in sorted(seen.items()):
        if len(names) > 1:
            listed = ", ".join(f'"{n}"' for n in sorted(names))
            findings.append(
                f"iam.{table}: {len(names)} permissive {command} policies for {role} ({listed});"
                " they are ORed, so the loosest one decides: merge them into one"
            )


def _ungoverned_grants(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select c.relname, case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)"
        " end as grantee, string_agg(a.privilege_type, ', ' order by a.privilege_type)"
        " from pg_class c, aclexplode(c.relacl) a"
        " where c.relnamespace = 'iam'::regnamespace and a.privilege_type = any(%s)"
        " and (a.grantee = 0 or pg_get_userbyid(a.grantee) = any(%s))"
        " group by 1, 2 order by 1, 2",
        (list(UNGOVERNED), list(REQUEST_ROLES)),
    ).fetchall()
    for table, grantee, privileges in rows:
        findings.append(
            f"iam.{table}: {privileges} granted to {grantee}; row level security does not"
            " govern these, revoke them"
        )


def _locking_grants(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select c.relname, case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)"
        " end as grantee, string_agg(a.privilege_type, ', ' order by a.privilege_type)"
        " from pg_class c, aclexplode(c.relacl) a"
        " where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p')"
        " and a.privilege_type = any(%s)"
        " and (a.grantee = 0 or pg_get_userbyid(a.grantee) = any(%s))"
        " group by 1, 2 order by 1, 2",
        (list(LOCKING), list(REQUEST_ROLES)),
    ).fetchall()
    for table, grantee, privileges in rows:
        findings.append(
            f"iam.{table}: table-level {privileges} granted to {grantee}, which lets it LOCK"
            " the table in ACCESS EXCLUSIVE mode and stall every tenant; grant UPDATE by"
            " column and delete through a SECURITY DEFINER function owned by iam_deleter"
        )


def _secret_columns(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select c.relname, a.attname, r.rolname from pg_class c"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " cross join pg_roles r"
        " where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')"
        " and r.rolname = any(%s) and has_column_privilege(r.oid, c.oid, a.attnum, 'SELECT')"
        " order by 1, 2, 3",
        (list(REQUEST_ROLES),),
    ).fetchall()
    for table, column, role in rows:
        if SECRET_COLUMN.search(column):
            findings.append(
                f"iam.{table}.{column}: {role} may read it, and its name says it holds a secret;"
                " leave it out of the column grants"
            )


def _request_role_memberships(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select r.rolname, o.rolname from pg_roles r cross join pg_roles o"
        " where r.rolname = any(%s) and o.oid <> r.oid and pg_has_role(r.oid, o.oid, 'MEMBER')"
        " and (o.rolname = any(%s) or o.rolsuper or o.rolbypassrls"
        "      or exists (select 1 from pg_class c where c.relowner = o.oid"
        "                 and c.relnamespace = 'iam'::regnamespace)"
        "      or exists (select 1 from pg_namespace n where n.nspowner = o.oid"
        "                 and n.nspname = 'iam'))"
        " order by 1, 2",
        (list(REQUEST_ROLES), list(DEFINER_ROLES)),
    ).fetchall()
    for role, owner in rows:
        findings.append(
            f"role {role}: is a member of {owner}, which owns iam objects or skips row level"
            f" security; SET ROLE {owner} would leave the policies behind: revoke it"
        )


def _definer_owners(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select p.oid::regprocedure::text, r.rolname, r.rolsuper from pg_proc p"
        " join pg_roles r on r.oid = p.proowner"
        " where p.pronamespace = 'iam'::regnamespace and p.prosecdef"
        " and (r.rolsuper or r.rolbypassrls) order by 1"
    ).fetchall()
    for signature, owner, superuser in rows:
        what = "a superuser" if superuser else "a BYPASSRLS role"
        findings.append(
            f"function {signature}: SECURITY DEFINER owned by {owner}, {what}, so no policy"
            " applies inside it; give it to iam_definer (or iam_deleter, for a delete)"
        )


def _functions(conn: Conn, findings: list[str]) -> None:
    rows = conn.execute(
        "select p.oid::regprocedure::text, p.prosecdef, l.lanname,"
        " exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%%'),"
        " exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        "         where a.grantee = 0 and a.privilege_type = 'EXECUTE')"
        " from pg_proc p join pg_language l on l.oid = p.prolang"
        " where p.pronamespace = 'iam'::regnamespace order by 1"
    ).fetchall()
    for signature, definer, language, pinned, public_execute in rows:
        if not definer and not pinned and language != "sql":
            findings.append(
                f"function {signature}: search_path is not pinned, so names it does not"
                " qualify resolve in the caller's schemas; add SET search_path = ''"
            )
        if public_execute and not definer:
            findings.append(
                f"function {signature}: executable by PUBLIC; revoke execute from public"
                " and grant it to the role that needs it"
            )
