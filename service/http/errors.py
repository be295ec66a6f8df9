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
from service.http import problem_types as kinds
from service.http.log_context import request_id_var
from service.http.problem_types import BY_STATUS, PLAIN, ProblemType

log = logging.getLogger("rls_iam.errors")

PROBLEM_JSON = "application/problem+json"

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
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="rls-iam"'}


class Problem(Exception):
    """An error meant for the client, with a detail safe to show.

    `kind` is its problem class (service/http/problem_types.py); without one, the
    class the status stands for (403 forbidden, 409 conflict, ...).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        kind: ProblemType | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors
        self.kind = kind or BY_STATUS.get(status, PLAIN)


def unauthorized(
    detail: str = kinds.UNAUTHORIZED.example, kind: ProblemType = kinds.UNAUTHORIZED
) -> Problem:
    return kind.problem(detail, headers=WWW_AUTHENTICATE)


def not_found(what: str = "Resource") -> Problem:
    return kinds.NOT_FOUND.problem(f"{what} not found.")


def forbidden(detail: str = kinds.FORBIDDEN.example) -> Problem:
    return kinds.FORBIDDEN.problem(detail)


def too_many_requests(wait: int, kind: ProblemType = kinds.RATE_LIMITED) -> Problem:
    return kind.problem(headers={"Retry-After": str(wait)})


# SQLSTATE (exact, then class) -> (problem class, detail)
_SQLSTATE: dict[str, tuple[ProblemType, str]] = {
    "23505": (kinds.CONFLICT, kinds.CONFLICT.example),
    "IAM01": (kinds.LAST_ADMIN, kinds.LAST_ADMIN.example),
    "IAM02": (kinds.TOO_MANY_INVITATIONS, kinds.TOO_MANY_INVITATIONS.example),
    # An invitation that cannot be used: unknown, expired, revoked, used or
    # for another email. One answer for all, the same as accepting gives.
    "IAM03": (kinds.INVITATION_NOT_FOUND, kinds.INVITATION_NOT_FOUND.example),
    "42501": (kinds.FORBIDDEN, kinds.FORBIDDEN.example),
    "23514": (kinds.VALIDATION, "A value is out of the allowed range."),
    "23502": (kinds.VALIDATION, "A required value is missing."),
    "57014": (kinds.UNAVAILABLE, "The database took too long to answer."),
    # The transaction was rolled back whole: nothing changed, the request
    # lost a race with another change (two admins demoting each other).
    "40001": (kinds.CONCURRENT_CHANGE, kinds.CONCURRENT_CHANGE.example),
    "40P01": (kinds.CONCURRENT_CHANGE, kinds.CONCURRENT_CHANGE.example),
    # A row the statement refers to went away in between (an organization
    # deleted while one of its members logs in): request roles never pick
    # the ids that foreign keys check (docs/dba.md, "Foreign-key errors").
    "23503": (kinds.CONCURRENT_CHANGE, kinds.CONCURRENT_CHANGE.example),
    "55P03": (kinds.UNAVAILABLE, "A concurrent change interfered; retry the request."),
}
_SQLSTATE_CLASS: dict[str, tuple[ProblemType, str]] = {
    "22": (kinds.VALIDATION, "A value is not valid."),
    "08": (kinds.UNAVAILABLE, kinds.UNAVAILABLE.example),
    "57": (kinds.UNAVAILABLE, kinds.UNAVAILABLE.example),
    "53": (kinds.UNAVAILABLE, kinds.UNAVAILABLE.example),
}
# A unique violation (23505) names the class of its constraint or unique
# index; the name itself never reaches the client.
_UNIQUE_CONSTRAINT: dict[str, ProblemType] = {
    "users_email_key": kinds.EMAIL_TAKEN,
    "projects_org_name_key": kinds.NAME_TAKEN,
    "organization_memberships_org_user_key": kinds.ALREADY_MEMBER,
    "invitations_pending_email_key": kinds.INVITATION_PENDING,
}
# A unique violation the database raises itself names no constraint: its
# message (fixed text in db/migrations) tells the class.
_UNIQUE_RAISED: dict[str, ProblemType] = {
    "already a member of this organization": kinds.ALREADY_MEMBER,
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """exc, then what caused it or was being handled when it was raised, and so on."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, also one that caused exc."""
    return next((seen.sqlstate for seen in _chain(exc) if isinstance(seen, psycopg.Error)), None)


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
    if state == "23505":
        unique = _UNIQUE_CONSTRAINT.get(error.diag.constraint_name or "") or _UNIQUE_RAISED.get(
            error.diag.message_primary or ""
        )
        if unique is not None:
            mapped = (unique, unique.example)
    if mapped is not None:
        kind, detail = mapped
        # Input the database refused: which field is not said, to say nothing
        # of the schema.
        errors = [{"loc": ["body"], "msg": detail}] if kind.status == 422 else None
        return kind.problem(detail, errors=errors)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return kinds.UNAVAILABLE.problem()
    if error.sqlstate is None and any(
        isinstance(seen, psycopg.OperationalError) for seen in _chain(error)
    ):
        # libpq's own report, with no SQLSTATE, of a connection that broke
        # while a pipeline's results were on their way ("server closed the
        # connection unexpectedly"), raised while the loss itself unwinds.
        return kinds.UNAVAILABLE.problem()
    return kinds.INTERNAL.problem()


def problem_response(problem: Problem) -> JSONResponse:
    kind = problem.kind
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title or TITLES.get(problem.status, "Error"),
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
    return problem_response(kinds.VALIDATION.problem(errors=_validation_errors(exc)))


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
    if "GET" in methods:
        methods.add("HEAD")  # answered by service/http/conventions.py
    return sorted(methods)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (a body that is not UTF-8): the
        # same 422 as any other malformed body.
        return problem_response(
            kinds.VALIDATION.problem(errors=[{"loc": ["body"], "msg": "invalid body"}])
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    detail = {404: "No such endpoint.", 405: "Method not allowed on this endpoint."}.get(
        exc.status_code, str(exc.detail)
    )
    # A route that does not exist, a method it does not have: plain HTTP.
    kind = PLAIN if exc.status_code in (404, 405) else None
    return problem_response(Problem(exc.status_code, detail, headers=headers, kind=kind))


async def _on_refused_caller(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CallerRefused)
    if isinstance(exc, InactiveCaller | SessionEnded):
        # The user was deleted or deactivated, or the token's session ended:
        # the token no longer speaks for anyone.
        return problem_response(unauthorized())
    return problem_response(kinds.NOT_A_MEMBER.problem())


async def _on_database(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    problem = database_problem(exc)
    if problem.status == 500:
        log_unexpected(request.scope, exc)
    return problem_response(problem)


async def _on_pool_timeout(_: Request, __: Exception) -> JSONResponse:
    return problem_response(kinds.UNAVAILABLE.problem())


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    log_unexpected(request.scope, exc)
    return problem_response(kinds.INTERNAL.problem())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(CallerRefused, _on_refused_caller)
    app.add_exception_handler(psycopg.Error, _on_database)
    app.add_exception_handler(PoolTimeout, _on_pool_timeout)
    app.add_exception_handler(Exception, _on_unhandled)
