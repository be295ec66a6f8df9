"""iam.rate_limit_buckets: no request role reads or writes the counters directly.

iam_anon counts through iam.throttle_client() and iam.login_attempt(),
which run as iam_definer; iam_authenticated has no business here at all.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.support.sql import Conn, World, act_as, act_as_anon, act_as_owner

STATEMENTS = {
    "select": "select * from iam.rate_limit_buckets",
    "insert": "insert into iam.rate_limit_buckets (bucket, window_start, hits)"
    " values ('client:x', now(), 1)",
    "update": "update iam.rate_limit_buckets set hits = 0",
    "delete": "delete from iam.rate_limit_buckets",
}


@pytest.mark.parametrize("operation", sorted(STATEMENTS))
@pytest.mark.parametrize("role", ["iam_anon", "iam_authenticated_admin"])
def test_request_roles_cannot_touch_rate_limit_buckets(
    conn: Conn, world: World, role: str, operation: str
) -> None:
    if role == "iam_anon":
        act_as_anon(conn)
    else:
        act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(STATEMENTS[operation])


def test_anon_counts_through_throttle_client(conn: Conn) -> None:
    act_as_anon(conn)
    waits = [
        conn.execute("select iam.throttle_client('203.0.113.9', 2, 60)").fetchone()
        for _ in range(3)
    ]
    assert waits[:2] == [(0,), (0,)]
    assert waits[2] is not None and waits[2][0] > 0
    act_as_owner(conn)
    row = conn.execute(
        "select count(*) from iam.rate_limit_buckets where bucket like '%203.0.113.9%'"
    ).fetchone()
    assert row == (0,)  # keys are digests, never the address in clear
