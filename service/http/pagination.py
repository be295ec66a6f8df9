"""Opaque keyset cursors: newest first, on (created_at, id), stable under concurrent inserts.

A cursor is bound to the list that issued it and tamper-evident: the position
(microseconds since the epoch, the row's id) travels with an HMAC over the
list's name and the position, keyed by a key derived from the JWT signing
secret (the previous secret's key is accepted too, during a rotation). A
cursor from another list, an altered one or any other string is refused
with 422 `/problems/invalid-cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import Query

from service.db.queries.pages import After, PageRow
from service.http.errors import Problem
from service.http.problem_types import INVALID_CURSOR

Limit = Annotated[
    int,
    Query(
        ge=1, le=100, description="Page size (1..100).", openapi_examples={"page": {"value": 20}}
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        description=(
            "Opaque: the `next_cursor` of the previous page of this same list. Any other"
            " string, a cursor of another list included, is refused with 422"
            " `/problems/invalid-cursor`."
        ),
    ),
]

_POSITION = struct.Struct(">q16s")
_TAG_BYTES = 16
_KEY_LABEL = b"rls-iam cursor signing key v1"


def cursor_key(secret: str) -> bytes:
    """The cursor key: its own key, derived from the signing secret, never the secret itself."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


class CursorCodec:
    def __init__(self, secret: str, previous_secrets: Iterable[str] = ()) -> None:
        self._key = cursor_key(secret)
        self._keys = (self._key, *(cursor_key(old) for old in previous_secrets))

    @staticmethod
    def _tag(key: bytes, endpoint: str, position: bytes) -> bytes:
        return hmac.new(key, endpoint.encode() + b"\0" + position, hashlib.sha256).digest()[
            :_TAG_BYTES
        ]

    def encode(self, endpoint: str, micros: int, row_id: uuid.UUID | str) -> str:
        key = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(row_id)
        position = _POSITION.pack(micros, key.bytes)
        raw = position + self._tag(self._key, endpoint, position)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, endpoint: str, cursor: str | None) -> After | None:
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, binascii.Error):
            raise invalid_cursor() from None
        if len(raw) != _POSITION.size + _TAG_BYTES:
            raise invalid_cursor()
        position, tag = raw[: _POSITION.size], raw[_POSITION.size :]
        if not any(
            hmac.compare_digest(tag, self._tag(key, endpoint, position)) for key in self._keys
        ):
            raise invalid_cursor()
        micros, key_bytes = _POSITION.unpack(position)
        return After(micros=micros, id=uuid.UUID(bytes=key_bytes))

    def page_body(self, endpoint: str, page: PageRow) -> str:
        """The list body, around the items array that PostgreSQL already serialized."""
        if page.has_more and page.last_micros is not None:
            cursor = f'"{self.encode(endpoint, page.last_micros, page.last_key)}"'
        else:
            cursor = "null"
        return f'{{"items":{page.items_json},"next_cursor":{cursor}}}'


def invalid_cursor() -> Problem:
    return INVALID_CURSOR.problem(
        "The cursor was not issued by this endpoint: pass the next_cursor of the previous"
        " page of this same list, or no cursor to start again.",
        errors=[{"loc": ["query", "cursor"], "msg": "not a cursor issued by this endpoint"}],
    )
