"""Databases seeded as the bench seeds its own, for the tests of the bench."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from bench.plan import Plan
from bench.seed import seed
from service.settings import Settings
from tests.support.database import migrated_database


@contextmanager
def seeded_database(server_conninfo: str, label: str, plan: Plan) -> Iterator[str]:
    """A migrated database of its own holding the bench's seed at plan's scale, dropped after."""
    with migrated_database(server_conninfo, label) as conninfo:
        with psycopg.connect(conninfo) as conn:
            seed(conn, plan, "not-a-hash")
            conn.commit()
        yield conninfo


def app_settings(conninfo: str, secret: str) -> Settings:
    """The API's settings on a seeded database, with tokens signed by the bench's secret."""
    return Settings(
        app_env="test",
        database_url=conninfo,
        jwt_access_secret=secret,
        jwt_issuer="rls-iam",
        jwt_audience="rls-iam-api",
        jwt_access_ttl_seconds=86_400,
        log_level="warning",
        database_pool_min_size=1,
        database_pool_max_size=2,
    )
