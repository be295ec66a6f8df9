"""The problem classes a client can switch on: one stable `type` URI reference per class.

Each class has a slug (its `type` is `/problems/<slug>`), the HTTP status it
comes with, a title, and a meaning that docs/errors.md repeats. To add one,
declare it here with `ProblemType(...)`, list it in docs/errors.md, and raise
it where it happens: `raise EMAIL_TAKEN.problem("...")`, or map a SQLSTATE to
it in service/http/errors.py. tests/api/test_problem_types.py fails when the
catalogue and the docs disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from service.http.errors import Problem

ABOUT_BLANK = "about:blank"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str
    # The detail of an example body in the OpenAPI document.
    example: str

    @property
    def uri(self) -> str:
        return ABOUT_BLANK if self.slug == ABOUT_BLANK else f"/problems/{self.slug}"

    def problem(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> Problem:
        from service.http.errors import Problem

        return Problem(
            self.status, detail or self.example, headers=headers, errors=errors, kind=self
        )


CATALOGUE: dict[str, ProblemType] = {}


def declare(slug: str, status: int, title: str, meaning: str, example: str) -> ProblemType:
    """Register a problem class; a slug is declared once."""
    if slug in CATALOGUE:
        raise ValueError(f"problem type {slug!r} is declared twice")
    kind = ProblemType(slug, status, title, meaning, example)
    CATALOGUE[slug] = kind
    return kind


VALIDATION = declare(
    "validation",
    422,
    "Request not valid",
    "The body, a path or a query parameter breaks a rule; `errors` names each field"
    " (`loc`) and what is wrong with it (`msg`).",
    "The request is not valid.",
)
INVALID_CURSOR = declare(
    "invalid-cursor",
    422,
    "Cursor not valid",
    "`?cursor=` is not a `next_cursor` that this endpoint issued (taken from another"
    " list, altered, or issued before the signing secret changed). Start again without it.",
    "The cursor was not issued by this endpoint.",
)
UNAUTHORIZED = declare(
    "unauthorized",
    401,
    "Not authenticated",
    "The access token is missing, malformed, expired, badly signed, or its user is no"
    " longer active. Log in again.",
    "Missing or invalid access token.",
)
INVALID_CREDENTIALS = declare(
    "invalid-credentials",
    401,
    "Invalid credentials",
    "Login failed: wrong email or password, an inactive user, or an organization the user"
    " is not a member of. One body for all, so the answer tells nothing about the account.",
    "Invalid email, password or organization.",
)
WRONG_PASSWORD = declare(
    "wrong-password",
    401,
    "Wrong current password",
    "A password change whose `current_password` is not the caller's password. It counts"
    " as a failed login.",
    "The current password is not correct.",
)
INVALID_REFRESH_TOKEN = declare(
    "invalid-refresh-token",
    401,
    "Invalid refresh token",
    "The refresh token is unknown, already used, or its session ended or expired. Log in again.",
    "Invalid or expired refresh token.",
)
FORBIDDEN = declare(
    "forbidden",
    403,
    "Forbidden",
    "The resource is visible to the caller, but the caller's role does not allow this action.",
    "Your role does not allow this action.",
)
NOT_A_MEMBER = declare(
    "not-a-member",
    403,
    "Not a member",
    "The token's user is no longer a member of the token's organization. Switch to"
    " another organization or log in again.",
    "You are not a member of this organization.",
)
NOT_FOUND = declare(
    "not-found",
    404,
    "Not found",
    "The resource does not exist, or the caller cannot see it (another organization's,"
    " or an organization the caller is not a member of): the two are not told apart.",
    "Project not found.",
)
EMAIL_TAKEN = declare(
    "email-taken",
    409,
    "Email taken",
    "An account with this email already exists.",
    "An account with this email already exists.",
)
NAME_TAKEN = declare(
    "name-taken",
    409,
    "Name taken",
    "The organization already has a project with this name (names compare case-insensitively).",
    "A project with this name already exists in the organization.",
)
ALREADY_MEMBER = declare(
    "already-member",
    409,
    "Already a member",
    "The user is already a member of the organization.",
    "This user is already a member of the organization.",
)
INVITATION_NOT_FOUND = declare(
    "invitation-not-found",
    404,
    "Invitation not found",
    "The invitation token cannot be used: unknown, expired, revoked, already used, or for"
    " another email than the caller's. One body for all, so the answer tells nothing about"
    " the invitation.",
    "Invitation not found.",
)
INVITATION_PENDING = declare(
    "invitation-pending",
    409,
    "Invitation pending",
    "The organization already has a pending invitation for this email. Revoke it first to"
    " invite again.",
    "An invitation for this email is already pending.",
)
TOO_MANY_INVITATIONS = declare(
    "too-many-invitations",
    409,
    "Too many invitations",
    "The organization has 100 pending invitations, the most it may have. Revoke some first.",
    "The organization has too many pending invitations; revoke some first.",
)
LAST_ADMIN = declare(
    "last-admin",
    409,
    "Last admin",
    "The change would leave the organization without an ORG_ADMIN. Promote another member first.",
    "An organization must keep at least one ORG_ADMIN.",
)
CONFLICT = declare(
    "conflict",
    409,
    "Conflict",
    "The request conflicts with existing data in a way no more specific class names.",
    "A resource with these values already exists.",
)
CONCURRENT_CHANGE = declare(
    "concurrent-change",
    409,
    "Concurrent change",
    "The request lost a race with another change and was rolled back whole. Retry it.",
    "The request conflicted with a concurrent change; retry it.",
)
BODY_TOO_LARGE = declare(
    "body-too-large",
    413,
    "Body too large",
    "The request body is larger than 64 KiB, or its Content-Length is not a number.",
    "The request body is too large.",
)
RATE_LIMITED = declare(
    "rate-limited",
    429,
    "Rate limited",
    "Too many auth requests from this client (an IPv4 address, or an IPv6 /64), or, on"
    " login, too many failed logins for this email from this client. Wait the seconds"
    " that `Retry-After` gives; other clients are not affected.",
    "Too many attempts; retry later.",
)
ORGANIZATION_QUOTA = declare(
    "organization-quota",
    429,
    "Organization quota reached",
    "The caller created as many organizations as a user may per sliding hour"
    " (`ORGANIZATION_CREATE_PER_HOUR`); nothing was created. Wait the seconds that"
    " `Retry-After` gives.",
    "You created too many organizations recently; retry later.",
)
HEADERS_TOO_LARGE = declare(
    "headers-too-large",
    431,
    "Headers too large",
    "The request headers are larger than the server accepts (`SERVER_MAX_HEADER_BYTES`,"
    " 16 KiB by default). Sent by `rls-iam serve` before the request is parsed;"
    " the connection is closed.",
    "The request headers are too large.",
)
OVERLOADED = declare(
    "overloaded",
    503,
    "Server overloaded",
    "The server has as many connections or requests in flight as it accepts"
    " (`SERVER_MAX_CONNECTIONS` per worker). Sent by `rls-iam serve` before the request"
    " reaches the API; the connection is closed. Nothing changed; retry later.",
    "The server is at its connection limit; retry later.",
)
UNAVAILABLE = declare(
    "unavailable",
    503,
    "Service unavailable",
    "The database is unreachable, did not answer within the deadline"
    " (`DATABASE_DEADLINE_SECONDS`; a pooler whose server is down), is too slow, or is"
    " not at the schema this API needs. Nothing changed; retry later.",
    "The database is unavailable.",
)
INTERNAL = declare(
    "internal",
    500,
    "Internal error",
    "A bug: the server failed. The `request_id` leads to its log lines.",
    "The server failed to handle this request.",
)

# Plain HTTP statuses with nothing to add: an unknown route, a method the
# route does not have. Not in the catalogue: clients switch on the status.
PLAIN = ProblemType(ABOUT_BLANK, 0, "", "", "")

# The class a bare status gets when the code raising it names none.
BY_STATUS: dict[int, ProblemType] = {
    400: VALIDATION,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    413: BODY_TOO_LARGE,
    422: VALIDATION,
    429: RATE_LIMITED,
    431: HEADERS_TOO_LARGE,
    500: INTERNAL,
    503: UNAVAILABLE,
}
