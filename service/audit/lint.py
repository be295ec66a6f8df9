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
  in iam (an owner skips RLS unless it is forced).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.audit.connection import Conn

HELPERS = ("current_user_id", "current_org_id", "member_role", "member_role_for_write")
INDEXED_COLUMNS = ("organization_id", "user_id", "id")
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer")

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
    rows = conn.execute(
        "select c.relname from pg_class c"
        " where c.relnamespace = 'iam'::regnamespace and c.relkind = 'v'"
        " and not coalesce((select lower(split_part(o, '=', 2)) in ('true', 'on', '1', 'yes')"
        "                   from unnest(c.reloptions) o where o like 'security_invoker=%'), false)"
        " order by 1"
    ).fetchall()
    for (name,) in rows:
        findings.append(
            f"view iam.{name}: runs with its owner's rights, past the caller's policies;"
            " set security_invoker = true"
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
