"""uvicorn's httptools protocol with the limits a front proxy would set.

Exposed directly, the server refuses request headers above a size limit at
once (431, `/problems/headers-too-large`), closes a connection whose request
headers or body do not arrive within their timeouts, and closes a keep-alive
connection after a number of requests. Past the concurrency limit it answers
503 `/problems/overloaded`, problem+json like every other error. Headers are
counted before the parser sees them: the parser's cost grows faster than the
headers do.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.http.problem_types import HEADERS_TOO_LARGE, OVERLOADED, ProblemType
from service.settings import get_settings

_END_OF_HEADERS = b"\r\n\r\n"


def _problem(kind: ProblemType, request_id: str) -> bytes:
    """The problem+json body the API would send, for a request the API never sees."""
    body = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": kind.example,
        "request_id": request_id,
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def _overloaded(scope: Any, receive: Any, send: Any) -> None:
    """uvicorn's answer past `limit_concurrency`, as a problem instead of plain text."""
    request_id = uuid.uuid4().hex
    body = _problem(OVERLOADED, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": OVERLOADED.status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes = settings.server_max_header_bytes
        self.header_timeout = settings.server_header_timeout_seconds
        self.body_timeout = settings.server_body_timeout_seconds
        self.max_requests = settings.server_keep_alive_max_requests
        self._awaiting_headers = True
        self._header_bytes = 0
        self._tail = b""
        self._requests = 0
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that sends nothing is closed like a slow one.
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            if self._read_timer is None:
                self._arm(self.header_timeout)
            window = self._tail + data
            end = window.find(_END_OF_HEADERS)
            if end < 0:
                self._header_bytes += len(data)
                self._tail = window[-3:]
            else:
                self._header_bytes += end + len(_END_OF_HEADERS) - len(self._tail)
                self._awaiting_headers = False
                self._tail = b""
                # The body, if any, has its own deadline; a request without
                # one completes in the parser below and disarms it.
                self._arm(self.body_timeout)
            if self._header_bytes > self.max_header_bytes:
                self._refuse_headers()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._requests += 1
        if self._requests >= self.max_requests and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._awaiting_headers = True
        self._header_bytes = 0
        self._tail = b""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # uvicorn picks its own plain-text 503 when over the concurrency limit.
        if app is service_unavailable:
            app = _overloaded
        super()._start_asgi_task(cycle, app)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _refuse_headers(self) -> None:
        self._disarm()
        request_id = uuid.uuid4().hex
        body = _problem(HEADERS_TOO_LARGE, request_id)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"x-request-id: " + request_id.encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
