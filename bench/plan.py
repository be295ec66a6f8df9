"""The seeded dataset's shape, and the ids every part of the bench derives from it.

Every id is md5 of a short label (`o<i>`, `u<j>`, `p<k>`) read as a uuid, so
SQL (the seed, pgbench scripts) and Python (tokens, cursors) name the same rows
without looking them up, and the ids are spread like random uuids in the
indexes.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

BIG_TENANT = 1  # the organization with BIG_PROJECTS x scale projects
TEN_TENANT = 2  # the organization with exactly 10 projects
SMALL_TENANT_PROJECTS = 10
# Every seeded user's password, for the login flood; a throwaway database only.
PASSWORD = "bench-password-0123"  # noqa: S105

# Full size (scale 1.0).
ORGANIZATIONS = 10_000
USERS_PER_ORGANIZATION = 2
PROJECTS = 1_000_000
BIG_PROJECTS = 100_000
MIN_TYPICAL_PROJECTS = 60


@dataclass(frozen=True)
class Plan:
    """How many rows of each kind: a scale of the full dataset (1.0)."""

    organizations: int
    users: int
    projects: int
    big_projects: int

    @classmethod
    def at_scale(cls, scale: float) -> Plan:
        organizations = max(20, round(ORGANIZATIONS * scale))
        big = max(100, round(BIG_PROJECTS * scale))
        # Every typical tenant fills more than one page of 50.
        floor = big + SMALL_TENANT_PROJECTS + MIN_TYPICAL_PROJECTS * (organizations - 2)
        projects = max(floor, round(PROJECTS * scale))
        return cls(
            organizations=organizations,
            users=USERS_PER_ORGANIZATION * organizations,
            projects=projects,
            big_projects=big,
        )

    @property
    def first_typical_project(self) -> int:
        """Projects from here on are spread over organizations 3..N."""
        return self.big_projects + SMALL_TENANT_PROJECTS + 1

    @property
    def typical_organizations(self) -> int:
        return self.organizations - 2

    def project_org(self, k: int) -> int:
        if k <= self.big_projects:
            return BIG_TENANT
        if k < self.first_typical_project:
            return TEN_TENANT
        return 3 + (k - self.first_typical_project) % self.typical_organizations

    def tag(self) -> str:
        return (
            f"orgs={self.organizations} users={self.users} projects={self.projects}"
            f" big={self.big_projects}"
        )


def _md5_uuid(label: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(label.encode()).hexdigest())  # noqa: S324 - an id, not a secret


def org_id(i: int) -> uuid.UUID:
    return _md5_uuid(f"o{i}")


def user_id(j: int) -> uuid.UUID:
    return _md5_uuid(f"u{j}")


def session_id(j: int) -> uuid.UUID:
    """User j's sign-in session (every seeded user has one)."""
    return _md5_uuid(f"s{j}")


def project_id(k: int) -> uuid.UUID:
    return _md5_uuid(f"p{k}")


def email(j: int) -> str:
    return f"user{j}@bench.example"


def admin_of(i: int) -> int:
    """User i is the ORG_ADMIN of organization i."""
    return i


def member_of(plan: Plan, i: int) -> int:
    """User N + i is an ORG_USER of organization i (and READ_ONLY in organization i - 1)."""
    return plan.organizations + i
