"""Databases the audit tests may break: copies of a pristine, freshly migrated one.

Drift has to be committed for the audit commands to see it (they open their
own connections), so it is never made in the shared `database` fixture.
Each test that needs drift gets its own copy, made from a template that
nothing else connects to, and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from service.audit.cli import main
from tests.support.audit import RunPolicies
from tests.support.database import create_database, drop_database, migrate, with_dbname


@pytest.fixture(scope="session")
def pristine(server_conninfo: str) -> Iterator[str]:
    """Name of a migrated database used only as a template (no open connections)."""
    name = f"rls_iam_audit_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    migrate(create_database(server_conninfo, name))
    yield name
    drop_database(server_conninfo, name)


@pytest.fixture
def scratch_copy(server_conninfo: str, pristine: str) -> Iterator[str]:
    """Conninfo of a fresh copy of the pristine database, dropped after the test."""
    name = f"rls_iam_audit_copy_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{pristine}"')
    yield with_dbname(server_conninfo, name)
    drop_database(server_conninfo, name)


@pytest.fixture
def policies(capsys: pytest.CaptureFixture[str]) -> RunPolicies:
    """Run `rls-iam policies <args>`; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
