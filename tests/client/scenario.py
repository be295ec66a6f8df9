"""A client developer's first program, written against the client generated from /openapi.json.

tests/client/test_typed_client.py generates `rls_iam_client` with
openapi-python-client, type-checks this file under `mypy --strict`, then runs
`run()` against the API. It is data for that test, not imported by the suite.
"""

from __future__ import annotations

import httpx
from rls_iam_client import AuthenticatedClient, Client
from rls_iam_client.api.auth import get_me, register
from rls_iam_client.api.members import change_member_role, list_members
from rls_iam_client.api.projects import create_project, list_projects, update_project
from rls_iam_client.models import (
    MemberPage,
    MemberPatch,
    MeOut,
    ProblemOut,
    ProjectIn,
    ProjectOut,
    ProjectPage,
    ProjectPatch,
    RegisterIn,
    RegisterOut,
    Role,
)


def run(base_url: str, transport: httpx.BaseTransport, email: str) -> list[str]:
    """Register, create, page, update, and read two conflicts as typed problems."""
    steps: list[str] = []
    public = Client(base_url=base_url, httpx_args={"transport": transport})
    registered = register.sync(
        client=public,
        body=RegisterIn(
            email=email, password="correct horse battery staple", organization_name="Typed"
        ),
    )
    assert isinstance(registered, RegisterOut), registered
    assert registered.role is Role.ORG_ADMIN
    steps.append("registered")

    client = AuthenticatedClient(
        base_url=base_url, token=registered.access_token, httpx_args={"transport": transport}
    )
    created: list[ProjectOut] = []
    for name in ("Alpha", "Beta", "Gamma"):
        project = create_project.sync(client=client, body=ProjectIn(name=name))
        assert isinstance(project, ProjectOut), project
        created.append(project)
    steps.append("created 3")

    names: list[str] = []
    cursor: str | None = None
    while True:
        page = list_projects.sync(client=client, limit=2, cursor=cursor)
        assert isinstance(page, ProjectPage), page
        names.extend(project.name for project in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert names == ["Gamma", "Beta", "Alpha"], names
    steps.append("paged")

    renamed = update_project.sync(
        project_id=created[0].id, client=client, body=ProjectPatch(name="Alpha 2")
    )
    assert isinstance(renamed, ProjectOut) and renamed.name == "Alpha 2", renamed
    steps.append("updated")

    clash = create_project.sync(client=client, body=ProjectIn(name="alpha 2"))
    assert isinstance(clash, ProblemOut), clash
    assert clash.status == 409 and clash.type_ == "/problems/name-taken", clash
    steps.append(clash.type_)

    # One Role type: a role read from one model is a role another accepts.
    me = get_me.sync(client=client)
    assert isinstance(me, MeOut), me
    members = list_members.sync(client=client)
    assert isinstance(members, MemberPage), members
    demote = change_member_role.sync(
        user_id=me.user.id, client=client, body=MemberPatch(role=Role.READ_ONLY)
    )
    assert isinstance(demote, ProblemOut), demote
    assert demote.type_ == "/problems/last-admin", demote
    unchanged = change_member_role.sync(
        user_id=me.user.id, client=client, body=MemberPatch(role=members.items[0].role)
    )
    assert not isinstance(unchanged, ProblemOut), unchanged
    steps.append(demote.type_)
    return steps
