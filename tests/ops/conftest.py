"""Operability tests: the running `rls-iam serve` as an operator sees it (logs, metrics, signals).

Each module gets a migrated database of its own on the session's server, so
what a test reads from pg_stat_activity, and any test-only trigger, belongs
to that module's servers alone.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TestDatabase, create_database, drop_database, migrate


@pytest.fixture(scope="module")
def ops_database(server_conninfo: str) -> Iterator[TestDatabase]:
    name = f"rls_iam_ops_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conninfo = create_database(server_conninfo, name)
    migrate(conninfo)
    yield TestDatabase(name=name, conninfo=conninfo, server_conninfo=server_conninfo)
    drop_database(server_conninfo, name)


def parse_log(text: str) -> list[dict[str, Any]]:
    """Every non-empty line as a JSON object; a line that is not one fails the test."""
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"log line {number} is not JSON: {line[:300]!r}")
        assert isinstance(entry, dict), f"log line {number} is not a JSON object: {line[:300]!r}"
        entries.append(entry)
    return entries


def access_lines(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("logger") == "rls_iam.access"]
