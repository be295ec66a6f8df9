"""Reading the JSON logs of `rls-iam serve`."""

from __future__ import annotations

import json
from typing import Any

import pytest


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
