"""Every error leaves as RFC 9457 problem+json, and low-level errors are mapped here, once.

Database outcomes become status codes by SQLSTATE: a clash or a broken rule
is 409, a refused write is 403, bad input the database rejects is 422, an
unreachable database is 503. Nothing of the driver's message, the SQL or a
constraint name reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from service.db.runner import CallerRefused, InactiveCaller, SessionEnded
from service.http.log_context import request_id_var

log = logging.getLogger("rls_iam.errors")

PROBLEM_JSON = "application/problem+json"
ABOUT_BLANK = "about:blank"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="rls-iam"'}


class Problem(Exception):
    """An error meant for the client, with a detail safe to show."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors


def unauthorized(detail: str = "Missing or invalid access token.") -> Problem:
    return Problem(401, detail, headers=WWW_AUTHENTICATE)


def not_found(what: str = "Resource") -> Problem:
    return Problem(404, f"{what} not found.")


def forbidden(detail: str = "Your role does not allow this action.") -> Problem:
    return Problem(403, detail)


def too_many_requests(wait: int) -> Problem:
    return Problem(429, "Too many attempts; retry later.", headers={"Retry-After": str(wait)})


# SQLSTATE (exact, then class) -> (status, detail)
_SQLSTATE: dict[str, tuple[int, str]] = {
    "23505": (409, "A resource with these values already exists."),
    "IAM01": (409, "An organization must keep at least one ORG_ADMIN."),
    "IAM02": (409, "The organization has too many pending invitations; revoke some first."),
    # An invitation that cannot be used: unknown, expired, revoked, used or
    # for another email. One answer for all, the same as accepting gives.
    "IAM03": (404, "Invitation not found."),
    "42501": (403, "Your role does not allow this action."),
    "23514": (422, "A value is out of the allowed range."),
    "23502": (422, "A required value is missing."),
    "57014": (503, "The database took too long to answer."),
    # The transaction was rolled back whole: nothing changed, the request
    # lost a race with another change (two admins demoting each other).
    "40001": (409, "The request conflicted with a concurrent change; retry it."),
    "40P01": (409, "The request conflicted with a concurrent change; retry it."),
    "55P03": (503, "A concurrent change interfered; retry the request."),
}
_SQLSTATE_CLASS: dict[str, tuple[int, str]] = {
    "22": (422, "A value is not valid."),
    "08": (503, "The database is unavailable."),
    "57": (503, "The database is unavailable."),
    "53": (503, "The database is unavailable."),
}


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, also one that caused exc."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.Error):
            return seen.sqlstate
        seen = seen.__cause__ or seen.__context__
    return None


def _where(exc: BaseException) -> str | None:
    """The innermost frame of this service that the error passed: module and line, no values."""
    where = None
    trace = exc.__traceback__
    while trace is not None:
        module = trace.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith("service."):
            where = f"{module}:{trace.tb_lineno}"
        trace = trace.tb_next
    return where


def log_unexpected(scope: Mapping[str, Any], exc: BaseException) -> None:
    """One line for an error nobody mapped: its SQLSTATE, route and place, never its data.

    The request id comes with every log line; the exception's message does
    not, as it can carry SQL or values.
    """
    route = scope.get("route")
    log.error(
        "unexpected error",
        extra={
            "fields": {
                "method": scope.get("method"),
                "route": getattr(route, "path", None) or "unmatched",
                "where": _where(exc),
            },
            "sqlstate": _sqlstate(exc),
            "error_type": type(exc).__name__,
        },
    )


def database_problem(error: psycopg.Error) -> Problem:
    state = error.sqlstate or ""
    mapped = _SQLSTATE.get(state) or _SQLSTATE_CLASS.get(state[:2])
    if mapped is not None:
        status, detail = mapped
        # Input the database refused: which field is not said, to say nothing
        # of the schema.
        errors = [{"loc": ["body"], "msg": detail}] if status == 422 else None
        return Problem(status, detail, errors=errors)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return Problem(503, "The database is unavailable.")
    return Problem(500, "The server failed to handle this request.")


def problem_response(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": ABOUT_BLANK,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "request_id": request_id_var.get(),
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only the location and message: pydantic's "input" may echo a password.
    return [
        {"loc": [str(part) for part in item.get("loc", ())], "msg": str(item.get("msg", ""))}
        for item in error.errors()
    ]


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        Problem(422, "The request is not valid.", errors=_validation_errors(exc))
    )


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        nested = getattr(route, "original_router", None) or getattr(route, "router", None)
        if nested is not None and hasattr(nested, "routes"):
            yield from _routes(nested.routes)
        else:
            yield route


def _allowed_methods(request: Request) -> list[str]:
    """Every method of every route at this path: Starlette names only the first route's."""
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(request.url.path):
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (a body that is not UTF-8): the
        # same 422 as any other malformed body.
        return problem_response(
            Problem(
                422, "The request is not valid.", errors=[{"loc": ["body"], "msg": "invalid body"}]
            )
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    detail = {404: "No such endpoint.", 405: "Method not allowed on this endpoint."}.get(
        exc.status_code, str(exc.detail)
    )
    return problem_response(Problem(exc.status_code, detail, headers=headers))


async def _on_refused_caller(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CallerRefused)
    if isinstance(exc, InactiveCaller | SessionEnded):
        # The user was deleted or deactivated, or the token's session ended:
        # the token no longer speaks for anyone.
        return problem_response(unauthorized())
    return problem_response(forbidden("You are not a member of this organization."))


async def _on_database(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    problem = database_problem(exc)
    if problem.status == 500:
        log_unexpected(request.scope, exc)
    return problem_response(problem)


async def _on_pool_timeout(_: Request, __: Exception) -> JSONResponse:
    return problem_response(Problem(503, "The database is unavailable."))


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    log_unexpected(request.scope, exc)
    return problem_response(Problem(500, "The server failed to handle this request."))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(CallerRefused, _on_refused_caller)
    app.add_exception_handler(psycopg.Error, _on_database)
    app.add_exception_handler(PoolTimeout, _on_pool_timeout)
    app.add_exception_handler(Exception, _on_unhandled)
