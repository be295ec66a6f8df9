"""Fixtures of the SQL-level tests: a world of two tenants inside the rolled-back `conn`."""

from __future__ import annotations

import pytest

from tests.db.helpers import Conn, World, make_world


@pytest.fixture
def world(conn: Conn) -> World:
    """Organizations A and B, a member of each role in both, inserted as the owner."""
    return make_world(conn)
