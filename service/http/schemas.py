"""Request and response bodies (docs/api.md). Requests reject unknown fields and bad text.

Examples on each model are the OpenAPI document's examples (service/http/openapi.py
copies them onto every request and response that uses the model).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from typing_extensions import TypeAliasType

from service.http.text import (
    DESCRIPTION_PATTERN,
    LINE_CONTROLS,
    NAME_PATTERN,
    normalize_email,
    refuse_controls,
)

# A named alias: one `Role` schema in the document, referenced by every use.
Role = TypeAliasType("Role", Literal["ORG_ADMIN", "ORG_USER", "READ_ONLY"])


def schema_extra(extra: dict[str, Any]) -> Any:
    """Add keywords to a field's JSON schema without changing its validation."""
    return Field(json_schema_extra=extra)


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _not_blank(value: str) -> str:
    # Checked after stripping: pydantic's min_length looks before the strip.
    if not value:
        raise ValueError("must not be blank")
    return value


def _one_line(value: str) -> str:
    return refuse_controls(value)


def _paragraphs(value: str) -> str:
    return refuse_controls(value, allow=LINE_CONTROLS)


# The schema says what the validators enforce, so that clients and fuzzers
# know the rules.
Text = Annotated[str, AfterValidator(_storable), schema_extra({"pattern": "^[^\\u0000]*$"})]
Name = Annotated[
    Text,
    StringConstraints(strip_whitespace=True, max_length=200),
    AfterValidator(_one_line),
    AfterValidator(_not_blank),
    schema_extra({"pattern": NAME_PATTERN}),
]
Description = Annotated[
    Text,
    StringConstraints(max_length=2000),
    AfterValidator(_paragraphs),
    schema_extra({"pattern": DESCRIPTION_PATTERN}),
]
Email = Annotated[
    Text,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(normalize_email),
    schema_extra({"format": "email", "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"}),
]
NewPassword = Annotated[Text, StringConstraints(min_length=12, max_length=128)]
# Login accepts any length up to the same bound, so it never says what the rules are.
AnyPassword = Annotated[Text, StringConstraints(min_length=1, max_length=128)]


def examples(*values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(values)})


_USER_ID = "8c5e2a10-3b9f-4d7e-a1c2-5f6e7d8c9b0a"
_ORG_ID = "0b7d4c1a-6e2f-4a9b-8c3d-1e2f3a4b5c6d"
_PROJECT_ID = "5f0c8e52-7d1b-4c4e-9d0a-2b1e6f3a9c11"
_WHEN = "2026-11-30T12:00:00Z"
_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4YzVlIn0.c2lnbmF0dXJl"  # noqa: S105 - a made-up example
_CURSOR = "AAYmC4l9hWBfDI5SfRtMTp0KKx5vOpwRq3gSPm1yN0FhTWpcXQ"
_REFRESH = "q3gSPm1yN0FhTWpcXQAAYmC4l9hWBfDI5SfRtMTp0KKx5vO"
_SESSION_ID = "6a1f0e2d-4c3b-4a59-8e7d-2c1b0a9f8e7d"
_INVITATION_ID = "2d9e8f7a-1b3c-4d5e-8f6a-7b8c9d0e1f2a"
_INVITATION_TOKEN = "Xq3gSPm1yN0FhTWpcXQAAYmC4l9hWBfDI5SfRtMTp0K"  # noqa: S105 - a made-up example


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# An invitation token as the API hands it out: 43 URL-safe characters. The
# bound is loose so that a wrong token is a 404, like any unusable one.
InvitationToken = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern="^[A-Za-z0-9_-]+$")
]


class RegisterIn(Request):
    """A new user with a new organization (organization_name), or joining the
    organization that invited them (invitation_token): exactly one of the two."""

    model_config = examples(
        {
            "email": "ada@example.com",
            "password": "correct horse battery staple",
            "organization_name": "Analytical Engines",
        },
        {
            "email": "grace@example.com",
            "password": "correct horse battery staple",
            "invitation_token": _INVITATION_TOKEN,
        },
    )
    email: Email
    password: NewPassword
    organization_name: Name | None = None
    invitation_token: InvitationToken | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> RegisterIn:
        if (self.organization_name is None) == (self.invitation_token is None):
            raise ValueError("give either organization_name or invitation_token")
        return self


class LoginIn(Request):
    model_config = examples(
        {"email": "ada@example.com", "password": "correct horse battery staple"},
        {
            "email": "ada@example.com",
            "password": "correct horse battery staple",
            "organization_id": _ORG_ID,
        },
    )
    email: Email
    password: AnyPassword
    organization_id: UUID | None = None


class RefreshIn(Request):
    model_config = examples({"refresh_token": _REFRESH})
    # secrets.token_urlsafe(32): 43 characters; the bound only refuses junk.
    refresh_token: Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class PasswordChangeIn(Request):
    model_config = examples(
        {
            "current_password": "correct horse battery staple",
            "new_password": "a longer passphrase for the engine",
        }
    )
    current_password: AnyPassword
    new_password: NewPassword


class SwitchOrganizationIn(Request):
    model_config = examples({"organization_id": _ORG_ID})
    organization_id: UUID


class OrganizationIn(Request):
    model_config = examples({"name": "Difference Engines"})
    name: Name


class OrganizationPatch(Request):
    model_config = examples({"name": "Difference Engines"})
    name: Name


class InvitationIn(Request):
    model_config = examples({"email": "grace@example.com", "role": "ORG_USER"})
    email: Email
    role: Role


class AcceptInvitationIn(Request):
    model_config = examples({"token": _INVITATION_TOKEN})
    token: InvitationToken


class MemberPatch(Request):
    model_config = examples({"role": "READ_ONLY"})
    role: Role


class ProjectIn(Request):
    model_config = examples(
        {"name": "Bernoulli numbers", "description": "Note G.\nA program for the engine."}
    )
    name: Name
    description: Description | None = None


def _patch_schema(schema: dict[str, Any]) -> None:
    # A name left out is not a name of null: no default in the document.
    schema["properties"]["name"].pop("default", None)
    schema["examples"] = [{"name": "Bernoulli numbers, revised"}, {"description": None}]


class ProjectPatch(Request):
    """Fields left out stay as they are; `description: null` clears the description."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patch_schema)
    # Optional, not nullable: left out, it stays as it is (the default is not
    # validated); sent as null, it is refused like any other non-string.
    name: Name = None  # type: ignore[assignment]
    description: Description | None = None


# ------------------------------------------------------------------ responses


class UserOut(BaseModel):
    model_config = examples({"id": _USER_ID, "email": "ada@example.com"})
    id: UUID
    email: str


class OrganizationRef(BaseModel):
    model_config = examples({"id": _ORG_ID, "name": "Analytical Engines"})
    id: UUID
    name: str


_TOKEN_EXAMPLE = {
    "access_token": _TOKEN,
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": _REFRESH,
    "refresh_expires_in": 2592000,
    "organization": {"id": _ORG_ID, "name": "Analytical Engines"},
    "role": "ORG_ADMIN",
}


class TokenOut(BaseModel):
    model_config = examples(_TOKEN_EXAMPLE)
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str = Field(
        description="Opaque, shown once; exchange it at /auth/refresh for new tokens."
    )
    refresh_expires_in: int = Field(description="Seconds until the session ends for good.")
    organization: OrganizationRef | None = Field(
        description="The active organization; null for a user who belongs to none."
    )
    role: Role | None


class RegisterOut(TokenOut):
    model_config = examples(
        {**_TOKEN_EXAMPLE, "user": {"id": _USER_ID, "email": "ada@example.com"}}
    )
    user: UserOut


class MeOut(BaseModel):
    model_config = examples(
        {
            "user": {"id": _USER_ID, "email": "ada@example.com"},
            "organization": {"id": _ORG_ID, "name": "Analytical Engines"},
            "role": "ORG_ADMIN",
        }
    )
    user: UserOut
    organization: OrganizationRef | None
    role: Role | None


_NEXT = Field(
    description="Opaque; pass it as `?cursor=` to this same list for the next page."
    " null on the last page."
)


_SESSION = {
    "id": _SESSION_ID,
    "created_at": _WHEN,
    "last_used_at": _WHEN,
    "expires_at": "2026-12-30T12:00:00Z",
    "user_agent": "Mozilla/5.0",
    "current": True,
}


class SessionOut(BaseModel):
    model_config = examples(_SESSION)
    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    current: bool = Field(description="Whether this is the session of the calling token.")


class SessionPage(BaseModel):
    model_config = examples({"items": [_SESSION], "next_cursor": _CURSOR})
    items: list[SessionOut]
    next_cursor: str | None = _NEXT


_ORGANIZATION = {
    "id": _ORG_ID,
    "name": "Analytical Engines",
    "role": "ORG_ADMIN",
    "created_at": _WHEN,
}
_MEMBER = {
    "user_id": _USER_ID,
    "email": "ada@example.com",
    "role": "ORG_ADMIN",
    "created_at": _WHEN,
}
_PROJECT = {
    "id": _PROJECT_ID,
    "organization_id": _ORG_ID,
    "name": "Bernoulli numbers",
    "description": "Note G.\nA program for the engine.",
    "created_by_user_id": _USER_ID,
    "created_at": _WHEN,
    "updated_at": _WHEN,
}


class OrganizationOut(BaseModel):
    model_config = examples(_ORGANIZATION)
    id: UUID
    name: str
    role: Role
    created_at: datetime


_INVITATION = {
    "id": _INVITATION_ID,
    "email": "grace@example.com",
    "role": "ORG_USER",
    "created_at": _WHEN,
    "expires_at": "2026-12-07T12:00:00Z",
    "invited_by_user_id": _USER_ID,
}


class InvitationOut(BaseModel):
    model_config = examples(_INVITATION)
    id: UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime
    invited_by_user_id: UUID | None


class InvitationCreated(InvitationOut):
    model_config = examples({**_INVITATION, "token": _INVITATION_TOKEN})
    token: str = Field(
        description="Shown once: only its SHA-256 digest is stored. Deliver it to the invitee."
    )


class MemberOut(BaseModel):
    model_config = examples(_MEMBER)
    user_id: UUID
    email: str
    role: Role
    created_at: datetime


class ProjectOut(BaseModel):
    model_config = examples(_PROJECT)
    id: UUID
    organization_id: UUID
    name: str
    description: str | None
    created_by_user_id: UUID
    created_at: datetime
    updated_at: datetime


class OrganizationPage(BaseModel):
    model_config = examples({"items": [_ORGANIZATION], "next_cursor": _CURSOR})
    items: list[OrganizationOut]
    next_cursor: str | None = _NEXT


class MemberPage(BaseModel):
    model_config = examples({"items": [_MEMBER], "next_cursor": None})
    items: list[MemberOut]
    next_cursor: str | None = _NEXT


class InvitationPage(BaseModel):
    model_config = examples({"items": [_INVITATION], "next_cursor": None})
    items: list[InvitationOut]
    next_cursor: str | None = _NEXT


class ProjectPage(BaseModel):
    model_config = examples({"items": [_PROJECT], "next_cursor": _CURSOR})
    items: list[ProjectOut]
    next_cursor: str | None = _NEXT


class FieldError(BaseModel):
    model_config = examples({"loc": ["body", "name"], "msg": "must not be blank"})
    loc: list[str] = Field(description="Where: `body`, `query`, `path`, then the field's path.")
    msg: str


# What the audit triggers record (db/migrations/*_create_audit_events.sql).
AuditAction = Literal[
    "organization.created",
    "organization.renamed",
    "member.added",
    "member.role_changed",
    "member.removed",
    "member.left",
    "invitation.created",
    "invitation.revoked",
    "invitation.accepted",
    "project.created",
    "project.updated",
    "project.deleted",
]


class AuditChange(BaseModel):
    old: Any = Field(description="The column's value before the change; null when inserted.")
    new: Any = Field(description="The column's value after the change; null when deleted.")


_AUDIT_EVENT = {
    "id": "3e9b1c7a-2d4f-4b6e-8a1c-9f0e7d6c5b4a",
    "organization_id": _ORG_ID,
    "actor_user_id": _USER_ID,
    "action": "project.updated",
    "target_type": "project",
    "target_id": _PROJECT_ID,
    "changes": {"name": {"old": "Apollo", "new": "Artemis"}},
    "request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "occurred_at": _WHEN,
}


class AuditEventOut(BaseModel):
    model_config = examples(_AUDIT_EVENT)

    id: UUID
    organization_id: UUID
    actor_user_id: UUID | None = Field(
        description="The user whose transaction made the change; null when nobody was signed in."
    )
    action: AuditAction
    target_type: Literal["organization", "member", "invitation", "project"]
    target_id: UUID = Field(
        description="The organization's, member's (user id), invitation's or project's id."
    )
    changes: dict[str, AuditChange] = Field(
        description="The changed columns' old and new values; never a secret."
    )
    request_id: str | None = Field(description="X-Request-ID of the request that made the change.")
    occurred_at: datetime


class AuditEventPage(BaseModel):
    model_config = examples({"items": [_AUDIT_EVENT], "next_cursor": _CURSOR})

    items: list[AuditEventOut]
    next_cursor: str | None


class ProblemOut(BaseModel):
    """RFC 9457 problem details. Switch on `type`: docs/errors.md lists every class."""

    model_config = examples(
        {
            "type": "/problems/name-taken",
            "title": "Name taken",
            "status": 409,
            "detail": "A project with this name already exists in the organization.",
            "request_id": "3f2b6c1e9a8d4e0f8c7b6a5d4e3f2a1b",
        }
    )
    type: str = Field(
        description="The problem class: `/problems/<slug>`, or `about:blank` for a plain"
        " HTTP status (unknown route, method not allowed)."
    )
    title: str
    status: int
    detail: str
    request_id: str | None
    errors: list[FieldError] | None = Field(
        default=None, description="422 only: each field that is not valid."
    )


class Health(BaseModel):
    model_config = examples({"status": "ok"})
    status: str


class Liveness(Health):
    model_config = examples({"status": "ok", "version": "0.1.0"})
    version: str  # the release running: the package's and the OpenAPI document's version
