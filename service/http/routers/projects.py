"""Projects of the active organization (CONTRACT §4)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from service.db.queries import projects as queries
from service.http.deps import MemberRunner
from service.http.errors import forbidden, not_found
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.schemas import ProjectIn, ProjectOut, ProjectPage, ProjectPatch

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=ProjectPage, responses=problems(401, 403))
async def list_projects(tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor)
    return raw_json(page_body(await queries.list_page(tenant, limit, after)))


@router.post("", status_code=201, response_model=ProjectOut, responses=problems(401, 403, 409))
async def create_project(tenant: MemberRunner, body: ProjectIn) -> Response:
    return raw_json(await queries.create(tenant, body.name, body.description), 201)


@router.get("/{project_id}", response_model=ProjectOut, responses=problems(401, 403, 404))
async def get_project(tenant: MemberRunner, project_id: UUID) -> Response:
    project = await queries.get(tenant, project_id)
    if project is None:
        raise not_found("Project")
    return raw_json(project)


@router.patch("/{project_id}", response_model=ProjectOut, responses=problems(401, 403, 404, 409))
async def update_project(tenant: MemberRunner, project_id: UUID, body: ProjectPatch) -> Response:
    fields = body.model_fields_set
    project, visible = await queries.update(
        tenant,
        project_id,
        name=body.name,
        description=body.description,
        set_description="description" in fields,
    )
    if project is not None:
        return raw_json(project)
    raise forbidden() if visible else not_found("Project")


@router.delete("/{project_id}", status_code=204, responses=problems(401, 403, 404))
async def delete_project(tenant: MemberRunner, project_id: UUID) -> Response:
    deleted, visible = await queries.delete(tenant, project_id)
    if deleted:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Project")
