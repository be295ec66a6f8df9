"""Fixtures of the SQL-level tests: tenants inside the rolled-back `conn`, or committed ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.database import TestDatabase
from tests.support.sql import Committed, Conn, World, committed, make_world


@pytest.fixture
def world(conn: Conn) -> World:
    """Organizations A and B, a member of each role in both, inserted as the owner."""
    return make_world(conn)


@pytest.fixture
def committed_data(database: TestDatabase) -> Iterator[Committed]:
    """Organizations and users that are really committed, deleted after the test."""
    with committed(database.conninfo) as data:
        yield data
