"""Acting as a tenant in raw SQL, the way the API does, for SQL-level tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from service.tenancy import SET_TENANT_CONTEXT

Conn = psycopg.Connection[Any]


def act_as(conn: Conn, user_id: uuid.UUID | str | None, org_id: uuid.UUID | str | None) -> None:
    """Switch this transaction to iam_authenticated with the given context ('' when None)."""
    conn.execute("reset role")
    conn.execute(
        SET_TENANT_CONTEXT,
        ("" if user_id is None else str(user_id), "" if org_id is None else str(org_id), "5000"),
    )


def act_as_owner(conn: Conn) -> None:
    conn.execute("reset role")


@dataclass
class Tenant:
    org_id: uuid.UUID
    admin: uuid.UUID
    user: uuid.UUID
    read_only: uuid.UUID
    project_ids: list[uuid.UUID] = field(default_factory=list)


def _user(conn: Conn, email: str) -> uuid.UUID:
    row = conn.execute(
        "insert into iam.users (email, password_hash) values (%s, 'x') returning id", (email,)
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def make_tenant(conn: Conn, label: str, projects: int = 2) -> Tenant:
    """An organization with one member of each role and a few projects, inserted as the owner."""
    act_as_owner(conn)
    suffix = uuid.uuid4().hex[:8]
    row = conn.execute(
        "insert into iam.organizations (name) values (%s) returning id", (f"{label} {suffix}",)
    ).fetchone()
    assert row is not None
    org_id = uuid.UUID(str(row[0]))
    tenant = Tenant(
        org_id=org_id,
        admin=_user(conn, f"admin-{label}-{suffix}@example.com"),
        user=_user(conn, f"user-{label}-{suffix}@example.com"),
        read_only=_user(conn, f"ro-{label}-{suffix}@example.com"),
    )
    for user_id, role in (
        (tenant.admin, "ORG_ADMIN"),
        (tenant.user, "ORG_USER"),
        (tenant.read_only, "READ_ONLY"),
    ):
        conn.execute(
            "insert into iam.organization_memberships (organization_id, user_id, role)"
            " values (%s, %s, %s)",
            (org_id, user_id, role),
        )
    for n in range(projects):
        row = conn.execute(
            "insert into iam.projects (organization_id, name, created_by_user_id)"
            " values (%s, %s, %s) returning id",
            (org_id, f"{label} project {n}", tenant.admin),
        ).fetchone()
        assert row is not None
        tenant.project_ids.append(uuid.UUID(str(row[0])))
    return tenant


def make_user(conn: Conn, label: str) -> uuid.UUID:
    act_as_owner(conn)
    return _user(conn, f"{label}-{uuid.uuid4().hex[:8]}@example.com")
