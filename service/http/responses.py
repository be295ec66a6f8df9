"""Responses whose JSON PostgreSQL already built, and the problem responses routes document."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from service.http.openapi import problem_responses
from service.http.pagination import CursorCodec

PROBLEM_JSON = "application/problem+json"


def raw_json(body: str, status_code: int = 200, *, location: str | None = None) -> Response:
    headers = {"Location": location} if location is not None else None
    return Response(
        content=body, status_code=status_code, media_type="application/json", headers=headers
    )


def cursors(request: Request) -> CursorCodec:
    codec: CursorCodec = request.app.state.rls_iam.cursors
    return codec


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json responses a route can give, by status."""
    return problem_responses(*codes)
