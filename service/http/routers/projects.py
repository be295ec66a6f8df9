"""Projects of the active organization (docs/api.md)."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Request, Response

from service.db.queries import projects as queries
from service.http.deps import MemberRunner
from service.http.errors import forbidden, not_found
from service.http.openapi import ADMIN, ANY_MEMBER, TENANT, WRITER, link, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import FORBIDDEN, NAME_TAKEN, NOT_FOUND
from service.http.responses import cursors, raw_json
from service.http.schemas import ProjectIn, ProjectOut, ProjectPage, ProjectPatch

router = APIRouter(prefix="/projects", tags=["projects"])
LIST = "projects"

_BY_ID = {"project_id": "$response.body#/id"}
_NEXT = {
    "GetProject": link("getProject", **_BY_ID),
    "UpdateProject": link("updateProject", **_BY_ID),
    "DeleteProject": link("deleteProject", **_BY_ID),
}


@router.get(
    "",
    response_model=ProjectPage,
    **operation(
        "listProjects",
        "List projects",
        ANY_MEMBER,
        "The organization's projects, newest first, one page at a time.",
        *TENANT,
        422,
    ),
)
async def list_projects(
    request: Request, tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    codec = cursors(request)
    after = codec.decode(LIST, cursor)
    return raw_json(codec.page_body(LIST, await queries.list_page(tenant, limit, after)))


@router.post(
    "",
    status_code=201,
    response_model=ProjectOut,
    **operation(
        "createProject",
        "Create a project",
        WRITER,
        "Creates a project in the organization; the caller is its `created_by_user_id`.",
        *TENANT,
        FORBIDDEN,
        NAME_TAKEN,
        links=_NEXT,
        link_status=201,
    ),
)
async def create_project(tenant: MemberRunner, body: ProjectIn) -> Response:
    project = await queries.create(tenant, body.name, body.description)
    return raw_json(project, 201, location=f"/projects/{json.loads(project)['id']}")


@router.get(
    "/{project_id}",
    response_model=ProjectOut,
    **operation(
        "getProject",
        "Get a project",
        ANY_MEMBER,
        "One project of the organization.",
        *TENANT,
        NOT_FOUND,
    ),
)
async def get_project(tenant: MemberRunner, project_id: UUID) -> Response:
    project = await queries.get(tenant, project_id)
    if project is None:
        raise not_found("Project")
    return raw_json(project)


@router.patch(
    "/{project_id}",
    response_model=ProjectOut,
    **operation(
        "updateProject",
        "Change a project",
        WRITER,
        "Changes the fields sent; fields left out stay as they are. `name` cannot be null;"
        " `description: null` clears the description. A request that changes nothing"
        " leaves `updated_at` as it was.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
        NAME_TAKEN,
    ),
)
async def update_project(tenant: MemberRunner, project_id: UUID, body: ProjectPatch) -> Response:
    fields = body.model_fields_set
    project, visible = await queries.update(
        tenant,
        project_id,
        name=body.name if "name" in fields else None,
        description=body.description,
        set_description="description" in fields,
    )
    if project is not None:
        return raw_json(project)
    raise forbidden() if visible else not_found("Project")


@router.delete(
    "/{project_id}",
    status_code=204,
    **operation(
        "deleteProject",
        "Remove a project",
        ADMIN,
        "Deletes the project.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
    ),
)
async def delete_project(tenant: MemberRunner, project_id: UUID) -> Response:
    deleted, visible = await queries.delete(tenant, project_id)
    if deleted:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Project")
