"""The OpenAPI document, declared once per operation and completed for every operation alike.

A route declares what is its own with `operation(...)`: an operationId, a
summary, what it does, the role it needs, the problem classes it can answer
with. `complete(...)` then adds what every operation shares, so that a new
endpoint gets it without asking: `X-Request-ID` on every response,
`Location` on 201, `WWW-Authenticate` on 401, `Retry-After` on 429, 413 where
there is a body, the server's own 431 and 503 (overloaded) everywhere, error
bodies as `application/problem+json` only, and the examples of request and
response bodies taken from their models.
tests/api/test_openapi_document.py walks the result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI

from service.http.problem_types import (
    BODY_TOO_LARGE,
    BY_STATUS,
    HEADERS_TOO_LARGE,
    NOT_A_MEMBER,
    OVERLOADED,
    UNAUTHORIZED,
    UNAVAILABLE,
    VALIDATION,
    ProblemType,
)
from service.http.schemas import ProblemOut

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}

# Who may call: the sentence each description ends with.
PUBLIC = "No token: anyone may call this."
SIGNED_IN = "Any valid access token, whether or not its user is still a member of its organization."
ANY_MEMBER = "Any member of the token's organization: ORG_ADMIN, ORG_USER or READ_ONLY."
WRITER = "ORG_ADMIN or ORG_USER of the token's organization; READ_ONLY gets 403."
ADMIN = "ORG_ADMIN of the token's organization; ORG_USER and READ_ONLY get 403."
ANY_MEMBER_OR_NO_ORGANIZATION = (
    "Any member of the token's organization (ORG_ADMIN, ORG_USER or READ_ONLY), or any valid"
    " access token without an organization."
)
ADMIN_OR_NO_ORGANIZATION = (
    "ORG_ADMIN of the token's organization, or any valid access token without an"
    " organization; ORG_USER and READ_ONLY get 403."
)

# Each tenant endpoint (any role of the token's organization) can answer these.
TENANT = (UNAUTHORIZED, NOT_A_MEMBER)

TAGS = [
    {
        "name": "auth",
        "description": "Register, log in, switch organization, and who the caller is."
        " Access tokens are JWTs (HS256) sent as `Authorization: Bearer <token>`.",
    },
    {
        "name": "sessions",
        "description": "Sessions: refresh tokens, logout, and the caller's signed-in devices."
        " A password change ends every session but the caller's.",
    },
    {
        "name": "organizations",
        "description": "The organizations (tenants) the caller belongs to, and the lifecycle"
        " (read, rename, delete) of the token's organization.",
    },
    {
        "name": "members",
        "description": "Members of the token's organization and their roles. An organization"
        " always keeps at least one ORG_ADMIN.",
    },
    {
        "name": "invitations",
        "description": "Invitations to join the token's organization. An invitee joins by"
        " accepting, signed in with the invited email, or by registering with the token.",
    },
    {
        "name": "projects",
        "description": "Projects of the token's organization. Names are unique per"
        " organization, case-insensitively.",
    },
    {
        "name": "audit",
        "description": "The active organization's audit log, written by the database:"
        " who changed which member, project or organization, and how (ORG_ADMIN only).",
    },
    {"name": "operations", "description": "Liveness and readiness probes for orchestrators."},
]

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the client's own when it sent a sane one"
        " (1 to 128 of `A-Za-z0-9._:-`), else a new one. Every log line of the request names it.",
        "schema": {"type": "string", "example": "3f2b6c1e9a8d4e0f8c7b6a5d4e3f2a1b"},
    },
    "Location": {
        "description": "The path of the created resource.",
        "schema": {"type": "string", "example": "/projects/5f0c8e52-7d1b-4c4e-9d0a-2b1e6f3a9c11"},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with.",
        "schema": {"type": "string", "example": 'Bearer realm="rls-iam"'},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "example": 30},
    },
    "Allow": {
        "description": "The methods this path has.",
        "schema": {"type": "string", "example": "GET, HEAD, POST"},
    },
}
_STATUS_HEADERS = {201: ["Location"], 401: ["WWW-Authenticate"], 429: ["Retry-After"]}


def problem_example(kind: ProblemType) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": kind.example,
        "request_id": "3f2b6c1e9a8d4e0f8c7b6a5d4e3f2a1b",
    }
    if kind.status == 422:
        body["errors"] = [
            {"loc": ["body", "name"], "msg": "String should have at most 200 characters"}
        ]
    return body


def problem_responses(*declared: ProblemType | int) -> dict[int | str, dict[str, Any]]:
    """The problem responses of an operation, grouped by status, each class described."""
    kinds: list[ProblemType] = []
    for item in (*declared, VALIDATION, UNAVAILABLE):
        kind = BY_STATUS[item] if isinstance(item, int) else item
        if kind not in kinds:
            kinds.append(kind)
    by_status: dict[int, list[ProblemType]] = {}
    for kind in kinds:
        by_status.setdefault(kind.status, []).append(kind)
    return {
        status: {
            "model": ProblemOut,
            "description": " ".join(f"`{kind.uri}`: {kind.meaning}" for kind in group),
            "content": {
                PROBLEM_JSON: {
                    "schema": PROBLEM_REF,
                    "examples": {
                        kind.slug: {"summary": kind.title, "value": problem_example(kind)}
                        for kind in group
                    },
                }
            },
        }
        for status, group in sorted(by_status.items())
    }


def operation(
    operation_id: str,
    summary: str,
    role: str,
    description: str,
    *problems: ProblemType | int,
    links: dict[str, dict[str, Any]] | None = None,
    link_status: int = 200,
) -> dict[str, Any]:
    """The keyword arguments of a route decorator for one documented operation."""
    responses = problem_responses(*problems)
    if links:
        responses[link_status] = {"links": links}
    return {
        "operation_id": operation_id,
        "summary": summary,
        "description": f"{description}\n\n**Role needed:** {role}",
        "responses": responses,
    }


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: what a client (and schemathesis) may call next with this answer."""
    return {"operationId": operation_id, "parameters": parameters}


# ------------------------------------------------------------------ completion


def _schema_example(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        component = doc["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
        examples = component.get("examples") or []
        return copy.deepcopy(examples[0]) if examples else None
    return None


def _add_examples(doc: dict[str, Any], media: dict[str, Any]) -> None:
    if "example" in media or "examples" in media:
        return
    example = _schema_example(doc, media.get("schema", {}))
    if example is not None:
        media["example"] = example


def _operations(doc: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                yield path, method, op


# What the server in front of the application answers to any request.
SERVER_PROBLEMS = (HEADERS_TOO_LARGE, OVERLOADED)


def _declare(responses: dict[str, Any], kind: ProblemType) -> None:
    """Add a problem class to an operation's responses, beside those of its status."""
    entry = problem_responses(kind)[kind.status]
    entry.pop("model")
    existing = responses.get(str(kind.status))
    if existing is None:
        responses[str(kind.status)] = entry
        return
    examples = (
        existing.setdefault("content", {})
        .setdefault(PROBLEM_JSON, {"schema": PROBLEM_REF})
        .setdefault("examples", {})
    )
    if kind.slug not in examples:
        examples.update(entry["content"][PROBLEM_JSON]["examples"])
        existing["description"] = f"{existing.get('description', '')} {entry['description']}"


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    components = doc.setdefault("components", {})
    components["headers"] = HEADERS
    request_id = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    components["responses"] = {
        "MethodNotAllowed": {
            "description": "about:blank. The path exists, the method does not; `Allow` names"
            " the methods it has. Any operation's path answers it to another method.",
            "headers": {
                "Allow": {"$ref": "#/components/headers/Allow"},
                **request_id,
            },
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
    }
    for _, method, op in _operations(doc):
        body = op.get("requestBody")
        if body is not None:
            for media in body.get("content", {}).values():
                _add_examples(doc, media)
            _declare(op["responses"], BODY_TOO_LARGE)
        for kind in SERVER_PROBLEMS:
            _declare(op["responses"], kind)
        for status, response in op["responses"].items():
            code = int(status)
            content = response.get("content", {})
            if code >= 400:
                response["content"] = {
                    PROBLEM_JSON: content.get(PROBLEM_JSON, {"schema": PROBLEM_REF})
                }
            else:
                for media in content.values():
                    _add_examples(doc, media)
            headers = response.setdefault("headers", {})
            headers.update(request_id)
            for name in _STATUS_HEADERS.get(code, []):
                headers[name] = {"$ref": f"#/components/headers/{name}"}
        if method == "get":
            op["description"] = (
                op.get("description", "") + "\n\n`HEAD` answers the same without a body."
            )
    schemas = components.get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve the completed document; built once, on first use."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
