"""Opaque keyset cursors: newest first, on (created_at, id), stable under concurrent inserts."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated

from fastapi import Query

from service.db.queries.pages import After, PageRow
from service.http.errors import Problem

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100).")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern="^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page.",
    ),
]


def encode_cursor(micros: int, row_id: uuid.UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{micros}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> After | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, row_id = raw.split(":", 1)
        after = After(micros=int(micros), id=uuid.UUID(row_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid_cursor() from None
    if not 0 <= after.micros < 2**62:
        raise _invalid_cursor()
    return after


def _invalid_cursor() -> Problem:
    return Problem(
        422,
        "The cursor is not valid.",
        errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )


def page_body(page: PageRow) -> str:
    """The list body, around the items array that PostgreSQL already serialized."""
    if page.has_more and page.last_micros is not None:
        cursor = f'"{encode_cursor(page.last_micros, str(page.last_key))}"'
    else:
        cursor = "null"
    return f'{{"items":{page.items_json},"next_cursor":{cursor}}}'
