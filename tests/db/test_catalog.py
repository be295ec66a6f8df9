"""What a DBA checks in the catalog: RLS flags, runtime roles, PUBLIC, definer functions.

These are facts about the migrated database, read from pg_catalog, so a
migration or policy file that loosens any of them fails here even when the
behaviour tests happen not to exercise the hole.
"""

from __future__ import annotations

import pytest

from tests.support.sql import Conn

# The tables of the data model (README), the auth rate-limit counters and the
# trace of password hash hand-outs (both reached only through definer
# functions), and the audit log (written only by triggers). A new table
# must be added here, with its policies.
TABLES = {
    "organizations",
    "users",
    "organization_memberships",
    "projects",
    "invitations",
    "rate_limit_buckets",
    "sessions",
    "refresh_tokens",
    "password_hash_handouts",
    "audit_events",
}
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer", "iam_deleter")
DEFINER = "iam_definer"
# The deletes requests make, owned by iam_deleter: request roles hold no
# table-level DELETE, which would let them LOCK a table in every mode.
DELETER = "iam_deleter"
DELETE_FUNCTIONS = {
    "iam.delete_project(uuid)",
    "iam.delete_organization(uuid)",
    "iam.remove_member(uuid)",
    "iam.revoke_invitation(uuid)",
    "iam.end_session(uuid)",
    "iam.end_other_sessions()",
}

# Who may EXECUTE each function of schema iam, besides its owner: exactly what
# db/migrations/ grants. A function added
# without an entry here fails test_every_iam_function_is_listed.
EXECUTE_GRANTEES: dict[str, set[str]] = {
    "iam.current_user_id()": {"iam_authenticated", "iam_definer", "iam_deleter"},
    "iam.current_org_id()": {"iam_authenticated", "iam_definer", "iam_deleter"},
    "iam.member_role()": {"iam_authenticated", "iam_deleter"},
    "iam.member_role_for_write()": {"iam_authenticated", "iam_deleter"},
    "iam.touch_updated_at()": set(),
    "iam.keep_last_admin()": set(),
    "iam.register(text,text,text)": {"iam_anon"},
    "iam.login_lookup(text,uuid)": set(),
    "iam.set_password_hash(uuid,text,text)": {"iam_anon"},
    "iam.my_organizations(integer,timestamp with time zone,uuid)": {"iam_authenticated"},
    "iam.switch_organization(uuid)": {"iam_authenticated"},
    "iam.create_organization(text)": {"iam_authenticated"},
    "iam.invitation_token_hash(text)": {"iam_authenticated", "iam_definer"},
    "iam.require_org_admin()": {"iam_authenticated"},
    "iam.admit_invitation()": set(),
    "iam.accept_invitation(text)": {"iam_authenticated"},
    "iam.register_invited(text,text,text)": {"iam_anon"},
    "iam.rate_limit_key(text,text)": {"iam_definer"},
    "iam.rate_limit_slide(text,integer,integer,boolean)": set(),
    "iam.throttle_client(text,integer,integer)": {"iam_anon"},
    "iam.login_attempt(text,text,uuid,integer,integer,integer,integer)": {"iam_anon"},
    "iam.login_succeeded(text,text,integer)": {"iam_anon"},
    "iam.login_failed(text,integer)": {"iam_anon"},
    "iam.take_organization_quota(integer)": {"iam_authenticated"},
    "iam.membership_lock_key(uuid,uuid)": {"iam_authenticated", "iam_definer"},
    "iam.organization_lock_key(uuid)": {"iam_authenticated", "iam_definer"},
    "iam.lock_membership_change()": set(),
    "iam.current_session_id()": {"iam_authenticated", "iam_definer", "iam_deleter"},
    "iam.session_ended()": {"iam_authenticated", "iam_definer"},
    "iam.start_session(uuid,uuid,text,integer,text)": {"iam_anon"},
    "iam.refresh_session(text,text)": {"iam_anon"},
    "iam.switch_session_organization(uuid,text)": {"iam_authenticated"},
    "iam.request_caller(uuid,uuid)": {"iam_authenticated"},
    "iam.request_session(uuid,uuid)": {"iam_authenticated"},
    "iam.password_hash_digest(text)": set(),
    "iam.audit_pair(text,anyelement,anyelement)": {"iam_definer"},
    "iam.current_request_id()": {"iam_definer"},
    "iam.audit_membership_change()": set(),
    "iam.audit_project_change()": set(),
    "iam.audit_invitation_change()": set(),
    "iam.audit_organization_change()": set(),
    "iam.audit_forget_organization()": set(),
    "iam.may_read_audit_events()": {"iam_authenticated"},
    **{signature: {"iam_authenticated"} for signature in DELETE_FUNCTIONS},
}
SECURITY_DEFINER = {
    "iam.member_role()",
    "iam.request_caller(uuid,uuid)",
    "iam.member_role_for_write()",
    "iam.keep_last_admin()",
    "iam.register(text,text,text)",
    "iam.login_lookup(text,uuid)",
    "iam.set_password_hash(uuid,text,text)",
    "iam.my_organizations(integer,timestamp with time zone,uuid)",
    "iam.switch_organization(uuid)",
    "iam.create_organization(text)",
    "iam.admit_invitation()",
    "iam.accept_invitation(text)",
    "iam.register_invited(text,text,text)",
    "iam.rate_limit_slide(text,integer,integer,boolean)",
    "iam.throttle_client(text,integer,integer)",
    "iam.login_attempt(text,text,uuid,integer,integer,integer,integer)",
    "iam.login_succeeded(text,text,integer)",
    "iam.login_failed(text,integer)",
    "iam.take_organization_quota(integer)",
    "iam.lock_membership_change()",
    "iam.start_session(uuid,uuid,text,integer,text)",
    "iam.refresh_session(text,text)",
    "iam.switch_session_organization(uuid,text)",
    "iam.request_session(uuid,uuid)",
    "iam.audit_membership_change()",
    "iam.audit_project_change()",
    "iam.audit_invitation_change()",
    "iam.audit_organization_change()",
    "iam.audit_forget_organization()",
    *DELETE_FUNCTIONS,
}


def _iam_tables(conn: Conn) -> dict[str, tuple[bool, bool, int]]:
    rows = conn.execute(
        """
        select c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (select count(*) from pg_catalog.pg_policy p where p.polrelid = c.oid)
        from pg_catalog.pg_class c
        where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p')
        """
    ).fetchall()
    return {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}


def test_iam_schema_holds_exactly_the_contract_tables(conn: Conn) -> None:
    assert set(_iam_tables(conn)) == TABLES


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_has_rls_enabled_forced_and_policies(conn: Conn, table: str) -> None:
    enabled, forced, policies = _iam_tables(conn)[table]
    assert enabled, f"iam.{table}: row level security is not enabled"
    assert forced, f"iam.{table}: row level security is not forced"
    assert policies >= 1, f"iam.{table} has no policy"


def test_every_iam_table_has_rls_enabled_forced_and_policies(conn: Conn) -> None:
    # Also any table added later and not yet listed in TABLES.
    tables = _iam_tables(conn)
    assert tables
    assert {
        name for name, (enabled, forced, _) in tables.items() if not (enabled and forced)
    } == set()
    assert {name for name, (_, _, policies) in tables.items() if policies == 0} == set()


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_runtime_role_is_unprivileged(conn: Conn, role: str) -> None:
    row = conn.execute(
        "select rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb, rolreplication"
        " from pg_catalog.pg_roles where rolname = %s",
        (role,),
    ).fetchone()
    assert row == (False, False, False, False, False, False)


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_runtime_role_owns_no_iam_table_nor_the_schema(conn: Conn, role: str) -> None:
    owned = conn.execute(
        "select c.relname from pg_catalog.pg_class c"
        " where c.relnamespace = 'iam'::regnamespace and c.relowner = %s::regrole",
        (role,),
    ).fetchall()
    assert owned == []
    schema_owner = conn.execute(
        "select nspowner::regrole::text from pg_catalog.pg_namespace where nspname = 'iam'"
    ).fetchone()
    assert schema_owner is not None and schema_owner[0] != role


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_runtime_role_is_member_of_no_role(conn: Conn, role: str) -> None:
    # Membership in another role would lend it that role's privileges (or its ownership).
    rows = conn.execute(
        "select roleid::regrole::text from pg_catalog.pg_auth_members where member = %s::regrole",
        (role,),
    ).fetchall()
    assert rows == []


def test_public_has_no_privilege_on_iam_tables(conn: Conn) -> None:
    rows = conn.execute(
        """
        select c.relname, a.privilege_type
        from pg_catalog.pg_class c,
             aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
        where c.relnamespace = 'iam'::regnamespace and a.grantee = 0
        """
    ).fetchall()
    assert rows == []


def test_public_has_no_column_privilege_on_iam_tables(conn: Conn) -> None:
    rows = conn.execute(
        """
        select c.relname, att.attname, a.privilege_type
        from pg_catalog.pg_attribute att
        join pg_catalog.pg_class c on c.oid = att.attrelid,
             aclexplode(att.attacl) a
        where c.relnamespace = 'iam'::regnamespace and a.grantee = 0
        """
    ).fetchall()
    assert rows == []


def test_public_has_no_privilege_on_schema_iam(conn: Conn) -> None:
    rows = conn.execute(
        """
        select a.privilege_type
        from pg_catalog.pg_namespace n,
             aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
        where n.nspname = 'iam' and a.grantee = 0
        """
    ).fetchall()
    assert rows == []


def _execute_grantees(conn: Conn) -> dict[str, tuple[str, set[str]]]:
    """Each iam function: (owner, roles other than the owner that may EXECUTE it)."""
    rows = conn.execute(
        """
        select p.oid::regprocedure::text, p.proowner::regrole::text,
               coalesce(array_agg(case when a.grantee = 0 then 'PUBLIC'
                                       else a.grantee::regrole::text end)
                        filter (where a.grantee <> p.proowner), '{}')
        from pg_catalog.pg_proc p
        left join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               on a.privilege_type = 'EXECUTE'
        where p.pronamespace = 'iam'::regnamespace
        group by p.oid
        """
    ).fetchall()
    return {signature: (owner, set(grantees)) for signature, owner, grantees in rows}


def test_every_iam_function_is_listed(conn: Conn) -> None:
    assert set(_execute_grantees(conn)) == set(EXECUTE_GRANTEES)


def test_public_cannot_execute_any_iam_function(conn: Conn) -> None:
    grants = _execute_grantees(conn)
    assert grants
    assert {sig for sig, (_, grantees) in grants.items() if "PUBLIC" in grantees} == set()


@pytest.mark.parametrize("signature", sorted(EXECUTE_GRANTEES))
def test_execute_is_granted_to_exactly_the_intended_roles(conn: Conn, signature: str) -> None:
    _, grantees = _execute_grantees(conn)[signature]
    assert grantees == EXECUTE_GRANTEES[signature]


def test_security_definer_functions_are_exactly_the_intended_ones(conn: Conn) -> None:
    rows = conn.execute(
        "select p.oid::regprocedure::text from pg_catalog.pg_proc p"
        " where p.pronamespace = 'iam'::regnamespace and p.prosecdef"
    ).fetchall()
    assert {signature for (signature,) in rows} == SECURITY_DEFINER


@pytest.mark.parametrize("signature", sorted(SECURITY_DEFINER))
def test_definer_function_pins_empty_search_path_and_is_owned_by_its_role(
    conn: Conn, signature: str
) -> None:
    row = conn.execute(
        "select p.proowner::regrole::text, p.proconfig from pg_catalog.pg_proc p"
        " where p.oid = %s::regprocedure",
        (signature,),
    ).fetchone()
    assert row is not None
    owner, config = row
    assert owner == (DELETER if signature in DELETE_FUNCTIONS else DEFINER)
    assert config == ['search_path=""']


def test_iam_definer_cannot_create_objects_outside_schema_iam(conn: Conn) -> None:
    # Its CREATE on iam exists only so that ALTER FUNCTION ... OWNER works.
    row = conn.execute(
        "select has_schema_privilege('iam_definer', 'public', 'CREATE'),"
        " has_database_privilege('iam_definer', current_database(), 'CREATE')"
    ).fetchone()
    assert row == (False, False)


@pytest.mark.parametrize(
    "table", ["projects", "organizations", "organization_memberships", "invitations", "sessions"]
)
def test_deletes_find_rows_through_exactly_what_the_caller_may_read(conn: Conn, table: str) -> None:
    """iam_deleter's SELECT policy repeats the request's: a row hidden from the
    caller stays hidden from their delete (404), a visible one is refused (403)."""
    rows = conn.execute(
        "select pg_get_userbyid(r), pg_get_expr(p.polqual, p.polrelid)"
        " from pg_catalog.pg_policy p, unnest(p.polroles) r"
        " where p.polrelid = %s::regclass and p.polcmd = 'r'"
        " and pg_get_userbyid(r) in ('iam_authenticated', 'iam_deleter')",
        (f"iam.{table}",),
    ).fetchall()
    using = dict(rows)
    assert set(using) == {"iam_authenticated", "iam_deleter"}
    assert using["iam_deleter"] == using["iam_authenticated"]


def test_iam_deleter_creates_nothing_anywhere(conn: Conn) -> None:
    # It held CREATE on iam only while the migration handed it its functions.
    row = conn.execute(
        "select has_schema_privilege('iam_deleter', 'iam', 'CREATE'),"
        " has_schema_privilege('iam_deleter', 'public', 'CREATE'),"
        " has_database_privilege('iam_deleter', current_database(), 'CREATE')"
    ).fetchone()
    assert row == (False, False, False)


# Any of these at table level lets a role LOCK the table in every mode,
# ACCESS EXCLUSIVE included (MAINTAIN exists from PostgreSQL 17 on).
LOCKING_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "MAINTAIN")


@pytest.mark.parametrize("role", ["iam_anon", "iam_authenticated"])
def test_request_roles_hold_no_table_privilege_that_allows_every_lock(
    conn: Conn, role: str
) -> None:
    rows = conn.execute(
        "select c.relname, a.privilege_type"
        " from pg_catalog.pg_class c, aclexplode(c.relacl) a"
        " where c.relnamespace = 'iam'::regnamespace"
        " and (a.grantee = 0 or a.grantee = %s::regrole) and a.privilege_type = any(%s)",
        (role, list(LOCKING_PRIVILEGES)),
    ).fetchall()
    assert rows == []


# What each runtime role may do, table by table: exactly what db/policies/
# grants, so that an extra grant (even one a policy would still refuse)
# shows up here. Column grants are listed as "PRIVILEGE(column)".
GRANTS: dict[str, dict[str, set[str]]] = {
    "organizations": {
        "iam_authenticated": {"SELECT", "UPDATE(name)"},
        "iam_definer": {"SELECT", "INSERT"},
        "iam_deleter": {"SELECT(id)", "DELETE"},
    },
    "users": {
        "iam_authenticated": {
            "SELECT(id)",
            "SELECT(email)",
            "SELECT(is_active)",
            "SELECT(created_at)",
            "SELECT(updated_at)",
        },
        "iam_definer": {"SELECT", "INSERT", "UPDATE(password_hash)"},
    },
    "organization_memberships": {
        "iam_authenticated": {
            "SELECT",
            "UPDATE(role)",
        },
        "iam_definer": {"SELECT", "INSERT"},
        "iam_deleter": {"SELECT(user_id)", "DELETE"},
    },
    "projects": {
        "iam_authenticated": {
            "SELECT",
            "INSERT(name)",
            "INSERT(description)",
            "UPDATE(name)",
            "UPDATE(description)",
        },
        "iam_deleter": {"SELECT(id)", "DELETE"},
    },
    "invitations": {
        # Every column but token_hash: nobody reads a token back.
        "iam_authenticated": {
            *(
                f"SELECT({column})"
                for column in (
                    "id",
                    "organization_id",
                    "email",
                    "role",
                    "invited_by_user_id",
                    "created_at",
                    "expires_at",
                    "accepted_at",
                    "accepted_by_user_id",
                )
            ),
            "INSERT(email)",
            "INSERT(role)",
            "INSERT(token_hash)",
            "INSERT(expires_at)",
        },
        "iam_definer": {
            "SELECT",
            "DELETE",
            "UPDATE(accepted_at)",
            "UPDATE(accepted_by_user_id)",
        },
        "iam_deleter": {"SELECT(id)", "SELECT(accepted_at)", "DELETE"},
    },
    "rate_limit_buckets": {
        "iam_definer": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    },
    "sessions": {
        "iam_authenticated": {"SELECT"},
        "iam_definer": {
            "SELECT",
            "INSERT",
            "DELETE",
            "UPDATE(organization_id)",
            "UPDATE(last_used_at)",
        },
        "iam_deleter": {"SELECT(id)", "DELETE"},
    },
    # Digests only, and only through the definer functions.
    "refresh_tokens": {
        "iam_definer": {"SELECT", "INSERT", "UPDATE(spent_at)"},
    },
    "password_hash_handouts": {
        "iam_definer": {"SELECT", "INSERT", "DELETE", "UPDATE(used_at)"},
    },
    # Append-only: admins read, the audit triggers (as iam_definer) insert,
    # and delete only a deleted organization's events (the policies say so).
    "audit_events": {
        "iam_authenticated": {"SELECT"},
        "iam_definer": {"SELECT", "INSERT", "DELETE"},
    },
}


def _grants(conn: Conn, table: str) -> dict[str, set[str]]:
    rows = conn.execute(
        """
        select a.grantee::regrole::text, a.privilege_type
        from pg_catalog.pg_class c, aclexplode(c.relacl) a
        where c.oid = %(table)s::regclass and a.grantee <> c.relowner
        union all
        select a.grantee::regrole::text, a.privilege_type || '(' || att.attname || ')'
        from pg_catalog.pg_attribute att, aclexplode(att.attacl) a
        where att.attrelid = %(table)s::regclass
        """,
        {"table": f"iam.{table}"},
    ).fetchall()
    grants: dict[str, set[str]] = {}
    for grantee, privilege in rows:
        grants.setdefault(grantee, set()).add(privilege)
    return grants


@pytest.mark.parametrize("table", sorted(GRANTS))
def test_runtime_roles_hold_exactly_the_intended_table_grants(conn: Conn, table: str) -> None:
    assert _grants(conn, table) == GRANTS[table]


def test_grants_are_listed_for_every_iam_table(conn: Conn) -> None:
    assert set(GRANTS) == set(_iam_tables(conn))


def test_schema_iam_privileges_of_runtime_roles(conn: Conn) -> None:
    rows = conn.execute(
        """
        select a.grantee::regrole::text, a.privilege_type
        from pg_catalog.pg_namespace n, aclexplode(n.nspacl) a
        where n.nspname = 'iam' and a.grantee <> n.nspowner
        """
    ).fetchall()
    assert set(rows) == {
        ("iam_anon", "USAGE"),
        ("iam_authenticated", "USAGE"),
        ("iam_definer", "USAGE"),
        ("iam_definer", "CREATE"),
        ("iam_deleter", "USAGE"),
    }
