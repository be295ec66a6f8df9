"""Operability tests: the running `rls-iam serve` as an operator sees it (logs, metrics, signals).

Each module gets a migrated database of its own on the session's server, so
what a test reads from pg_stat_activity, and any test-only trigger, belongs
to that module's servers alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.database import TestDatabase, create_database, drop_database, migrate


@pytest.fixture(scope="module")
def ops_database(server_conninfo: str) -> Iterator[TestDatabase]:
    name = f"rls_iam_ops_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conninfo = create_database(server_conninfo, name)
    migrate(conninfo)
    yield TestDatabase(name=name, conninfo=conninfo, server_conninfo=server_conninfo)
    drop_database(server_conninfo, name)
