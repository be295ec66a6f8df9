"""HEAD wherever GET is, and CORS for the origins the operator lists (docs/api.md)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a browser client may send and read beyond the CORS-safelisted headers.
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Location", "Retry-After", "WWW-Authenticate"]
CORS_MAX_AGE_SECONDS = 600


class HeadAsGet:
    """HEAD runs the GET route and sends its status and headers without the body.

    Routes declare GET only (one operation each in the document); a HEAD that
    reaches a path without GET gets the route's own 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def install(app: FastAPI, allow_origins: list[str]) -> None:
    """Add the middleware; call before the request-context middleware, which wraps them."""
    app.add_middleware(HeadAsGet)
    if allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=allow_origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            # Bearer tokens travel in a header, never in cookies.
            allow_credentials=False,
            max_age=CORS_MAX_AGE_SECONDS,
        )
