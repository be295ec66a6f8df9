"""Pure ASGI middleware: request id, security headers, body limit, access log, last-resort 500."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http import metrics
from service.http.errors import Problem, log_unexpected, problem_response
from service.http.log_context import identity_var, request_id_var
from service.http.problem_types import BODY_TOO_LARGE, INTERNAL

access_log = logging.getLogger("rls_iam.access")

# A client's id is echoed back only when it is short and plain.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_BODY_BYTES = 64 * 1024


class _BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _SANE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        request_id_var.set(request_id)
        identity: dict[str, str] = {}
        identity_var.set(identity)
        path: str = scope.get("path", "")
        no_store = path.startswith("/auth")
        status = 500
        response_started = False

        too_large = BODY_TOO_LARGE.problem()
        declared = headers.get(b"content-length")
        if declared is not None:
            declared = declared.strip(b" \t")  # optional white space around a field value
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._send_problem(send, too_large, request_id, no_store=no_store)
            self._log(scope, 413, started, identity)
            return

        received = 0
        refused = False

        async def limited_receive() -> Message:
            # A body without Content-Length (chunked) is counted as it comes.
            # The 413 goes out at once: the framework's body parser would
            # turn any exception raised here into a parse error.
            nonlocal received, refused, status, response_started
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not refused:
                    refused = True
                    if not response_started:
                        response_started = True
                        status = 413
                        await self._send_problem(send, too_large, request_id, no_store=no_store)
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if refused:
                return  # the 413 has been sent; drop the app's own answer
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                ]
                if no_store:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            status = 413
        except Exception as exc:
            status = 500
            log_unexpected(scope, exc)
            if not response_started:
                await self._send_problem(
                    send,
                    INTERNAL.problem(),
                    request_id,
                    no_store=no_store,
                )
        finally:
            self._log(scope, status, started, identity)

    async def _send_problem(
        self, send: Send, problem: Problem, request_id: str, *, no_store: bool = False
    ) -> None:
        response = problem_response(problem)
        response.headers["x-request-id"] = request_id
        response.headers["x-content-type-options"] = "nosniff"
        if no_store:
            response.headers["cache-control"] = "no-store"
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    def _log(self, scope: Scope, status: int, started: float, identity: dict[str, str]) -> None:
        route = scope.get("route")
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "route": getattr(route, "path", None) or "unmatched",
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user_id": identity.get("user_id"),
            "org_id": identity.get("org_id"),
        }
        metrics.observe(
            fields["method"] or "", fields["route"], status, fields["duration_ms"] / 1000
        )
        access_log.info("request", extra={"fields": fields})
