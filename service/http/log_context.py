"""Per-request values that log lines and error bodies need, without passing them around."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# user_id and org_id of the verified token, for the access log line. A
# mutable holder set by the middleware, because dependencies may run in a
# copied context whose own ContextVar.set() the middleware would not see.
identity_var: ContextVar[dict[str, str] | None] = ContextVar("identity", default=None)
