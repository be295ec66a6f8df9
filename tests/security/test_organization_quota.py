"""Creating organizations is limited per user per hour, counted in PostgreSQL."""

from __future__ import annotations

from tests.support.api import add_member, assert_problem, make_settings, owner_sql, register
from tests.support.attacks import app_client
from tests.support.database import TestDatabase

PER_HOUR = 3


def test_organization_creation_is_limited_per_user(database: TestDatabase) -> None:
    settings = make_settings(database, organization_create_per_hour=PER_HOUR)
    with app_client(settings) as client:
        admin = register(client, "quota")
        other = register(client, "quota-other")
        member = add_member(client, admin, "ORG_USER", "quota-member")
        created = [
            client.post("/organizations", json={"name": f"Q{i}"}, headers=admin.headers)
            for i in range(PER_HOUR)
        ]
        assert [r.status_code for r in created] == [201] * PER_HOUR
        before = owner_sql(database, "select count(*) from iam.organizations")
        refused = client.post("/organizations", json={"name": "Q"}, headers=admin.headers)
        body = assert_problem(refused, 429)
        assert body["type"] == "/problems/organization-quota"
        retry_after = int(refused.headers["retry-after"])
        # A sliding window weighs the hour before as if its creations were
        # spread evenly: the wait can reach past one hour, never past two.
        assert 1 <= retry_after <= 2 * 3600, body
        # Nothing was created, and refused attempts do not count.
        assert owner_sql(database, "select count(*) from iam.organizations") == before
        # Another user has a quota of their own.
        assert (
            client.post("/organizations", json={"name": "Q"}, headers=other.headers).status_code
            == 201
        )
        # A refused creation (not an admin) spends nothing.
        for _ in range(PER_HOUR + 1):
            assert_problem(
                client.post("/organizations", json={"name": "Q"}, headers=member.headers), 403
            )
    print(f"\n[quota] {PER_HOUR} organizations, then 429 Retry-After {retry_after}")
