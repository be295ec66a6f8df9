"""Request and response bodies. Requests reject unknown fields and bad text."""

from __future__ import annotations

import re
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

Role = Literal["ORG_ADMIN", "ORG_USER", "READ_ONLY"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


def _email(value: str) -> str:
    value = value.lower()
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


def _not_blank(value: str) -> str:
    # Checked after stripping: pydantic's min_length looks before the strip.
    if not value:
        raise ValueError("must not be blank")
    return value


# The schema says what the validators enforce: no NUL, and (below) which
# strings are emails, so that clients and fuzzers know the rules.
Text = Annotated[str, AfterValidator(_storable), schema_extra({"pattern": "^[^\\u0000]*$"})]
Name = Annotated[
    Text,
    StringConstraints(strip_whitespace=True, max_length=200),
    AfterValidator(_not_blank),
    schema_extra({"pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"}),
]
Description = Annotated[Text, StringConstraints(max_length=2000)]
Email = Annotated[
    Text,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(_email),
    schema_extra({"format": "email", "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"}),
]
NewPassword = Annotated[Text, StringConstraints(min_length=12, max_length=128)]
# Login accepts any length up to the same bound, so it never says what the rules are.
AnyPassword = Annotated[Text, StringConstraints(min_length=1, max_length=128)]


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
    email: Email
    password: AnyPassword
    organization_id: UUID | None = None


class RefreshIn(Request):
    # secrets.token_urlsafe(32): 43 characters; the bound only refuses junk.
    refresh_token: Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class PasswordChangeIn(Request):
    current_password: AnyPassword
    new_password: NewPassword


class SwitchOrganizationIn(Request):
    organization_id: UUID


class OrganizationIn(Request):
    name: Name


class OrganizationPatch(Request):
    name: Name


class InvitationIn(Request):
    email: Email
    role: Role


class AcceptInvitationIn(Request):
    token: InvitationToken


class MemberPatch(Request):
    role: Role


class ProjectIn(Request):
    name: Name
    description: Description | None = None


class ProjectPatch(Request):
    name: Name | None = None
    description: Description | None = None


# ------------------------------------------------------------------ responses


class UserOut(BaseModel):
    id: UUID
    email: str


class OrganizationRef(BaseModel):
    id: UUID
    name: str


class TokenOut(BaseModel):
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
    user: UserOut


class MeOut(BaseModel):
    user: UserOut
    organization: OrganizationRef | None
    role: Role | None


class SessionOut(BaseModel):
    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    current: bool = Field(description="Whether this is the session of the calling token.")


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class OrganizationOut(BaseModel):
    id: UUID
    name: str
    role: Role
    created_at: datetime


class InvitationOut(BaseModel):
    id: UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime
    invited_by_user_id: UUID | None


class InvitationCreated(InvitationOut):
    token: str = Field(
        description="Shown once: only its SHA-256 digest is stored. Deliver it to the invitee."
    )


class MemberOut(BaseModel):
    user_id: UUID
    email: str
    role: Role
    created_at: datetime


class ProjectOut(BaseModel):
    id: UUID
    organization_id: UUID
    name: str
    description: str | None
    created_by_user_id: UUID
    created_at: datetime
    updated_at: datetime


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None = Field(description="Opaque; pass it as ?cursor= for the next page.")


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class InvitationPage(BaseModel):
    items: list[InvitationOut]
    next_cursor: str | None


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    request_id: str | None
    errors: list[dict[str, object]] | None = None


class Health(BaseModel):
    status: str


class Liveness(Health):
    version: str  # the release running: the package's and the OpenAPI document's version
