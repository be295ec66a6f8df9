"""Set-based seeding of a migrated database: one INSERT ... SELECT per table, as the superuser.

The superuser is the only role that writes around the policies (RLS is
forced, so even the tables' owner is filtered). Nothing is disabled:
constraints, foreign keys, triggers and policies stay as migrated.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bench.plan import BIG_TENANT, SMALL_TENANT_PROJECTS, TEN_TENANT, Plan

# Bump when the seed's shape changes, so cached databases are rebuilt.
SEED_VERSION = 3  # 3: the audit triggers record the seed

Conn = psycopg.Connection[Any]

ORGANIZATIONS = """
insert into iam.organizations (id, name, created_at, updated_at)
select md5('o' || i)::uuid,
       case i when %(big)s then 'Big tenant' when %(ten)s then 'Ten-project tenant'
              else 'Organization ' || i end,
       t, t
from generate_series(1, %(orgs)s) as i,
     lateral (select timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' as t) as ts
"""

USERS = """
insert into iam.users (id, email, password_hash, created_at, updated_at)
select md5('u' || j)::uuid, 'user' || j || '@bench.example', %(hash)s, t, t
from generate_series(1, %(users)s) as j,
     lateral (select timestamptz '2024-01-01 00:00:00+00' + j * interval '1 minute' as t) as ts
"""

# Organization i: user i is its ORG_ADMIN, user N + i an ORG_USER, and user
# N + i + 1 (the next organization's ORG_USER) a READ_ONLY member.
MEMBERSHIPS = """
insert into iam.organization_memberships (organization_id, user_id, role, created_at)
select md5('o' || i)::uuid, md5('u' || m.user_no)::uuid, m.role::iam.org_role,
       timestamptz '2024-02-01 00:00:00+00' + i * interval '1 minute' + m.after
from generate_series(1, %(orgs)s) as i,
     lateral (values (i, 'ORG_ADMIN', interval '0 s'),
                     (%(orgs)s + i, 'ORG_USER', interval '1 s'),
                     (%(orgs)s + i %% %(orgs)s + 1, 'READ_ONLY', interval '2 s'))
       as m (user_no, role, after)
"""

# One live sign-in session per user: the tokens the bench sends name them.
SESSIONS = """
insert into iam.sessions (id, user_id, created_at, last_used_at, expires_at)
select md5('s' || j)::uuid, md5('u' || j)::uuid, t, t, timestamptz '2100-01-01 00:00:00+00'
from generate_series(1, %(users)s) as j,
     lateral (select timestamptz '2024-01-01 00:00:00+00' + j * interval '1 minute' as t) as ts
"""

# Project k belongs to the big tenant (k <= big), the ten-project tenant (the
# next ten), or else organization 3 + (k - first) mod (N - 2). Newer k, newer
# created_at; the creator is the organization's ORG_ADMIN.
PROJECTS = """
insert into iam.projects
  (id, organization_id, name, description, created_by_user_id, created_at, updated_at)
select md5('p' || k)::uuid, md5('o' || o.org)::uuid, 'Project ' || k,
       case when k %% 3 = 0 then null else 'Description of project ' || k end,
       md5('u' || o.org)::uuid, t, t
from generate_series(1, %(projects)s) as k,
     lateral (select case when k <= %(big_projects)s then %(big)s
                          when k < %(first_typical)s then %(ten)s
                          else 3 + (k - %(first_typical)s) %% (%(orgs)s - 2) end as org,
                     timestamptz '2025-01-01 00:00:00+00' + k * interval '1 second' as t) as o
order by o.org, k
"""


def seed(conn: Conn, plan: Plan, password_hash: str) -> None:
    """Insert the plan's rows into an empty, migrated database (in the caller's transaction)."""
    params = {
        "orgs": plan.organizations,
        "users": plan.users,
        "projects": plan.projects,
        "big_projects": plan.big_projects,
        "first_typical": plan.first_typical_project,
        "big": BIG_TENANT,
        "ten": TEN_TENANT,
        "hash": password_hash,
    }
    assert plan.first_typical_project == plan.big_projects + SMALL_TENANT_PROJECTS + 1
    for statement in (ORGANIZATIONS, USERS, MEMBERSHIPS, SESSIONS, PROJECTS):
        conn.execute(statement, params)


def seed_tag(plan: Plan) -> str:
    """What the database comment records, so a later run can reuse the same dataset."""
    return f"rls-iam bench seed v{SEED_VERSION}: {plan.tag()}"
