"""Responses whose JSON PostgreSQL already built, and the problem responses routes document."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from service.http.schemas import ProblemOut

PROBLEM_JSON = "application/problem+json"


def raw_json(body: str, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type="application/json")


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json responses a route can give."""
    described = {
        401: "Missing, invalid or expired access token.",
        403: "The caller's role does not allow this, or the caller is no longer a member.",
        404: "Not found, or not visible to the caller's organization.",
        409: "Conflicts with existing data or with the last-admin rule.",
        422: "The request is not valid.",
        429: "Too many requests; see Retry-After.",
        503: "The database is unavailable.",
    }
    return {
        code: {
            "model": ProblemOut,
            "description": described[code],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
        }
        for code in (*codes, 422, 503)
    }
