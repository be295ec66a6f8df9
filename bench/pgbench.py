"""pgbench scripts and runs: the RLS path against the app-filter path; the API's transaction.

Random ids come from pgbench's \\set; the uuid of row n is md5 of a label
(see bench/plan.py), computed in the statement, the same way in every path.
The RLS path sets the context with the API's own statement (SET_TENANT_CONTEXT)
and runs SQL with no tenant filter, in one pipeline as the API does. The
app-filter path is the seed design's privileged path: the superuser, which RLS
does not apply to, with an explicit WHERE organization_id = ... in one
statement. The third path adds to it the membership check that every RLS
statement makes (an active member, with a writing role for writes), to tell
the cost of that check from the cost of RLS itself.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.plan import Plan
from service.db.embedded import wheel_bin_dir
from service.db.queries import projects
from service.db.runner import SESSION_CHECK, SET_TENANT_CONTEXT

COLUMNS = ", ".join(projects.COLUMNS)
ORG = "md5('o' || :o)::uuid"
USER = "md5('u' || :u)::uuid"
SESSION = "md5('s' || :u)::uuid"
PROJECT = "md5('p' || :k)::uuid"
# The API's context statement, its parameters computed from pgbench variables
# (the request id: one of the API's generated ones).
REQUEST_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
# The context statement without the session check, to measure what the check costs.
SET_TENANT_CONTEXT_UNCHECKED = SET_TENANT_CONTEXT.replace(", session.is_live", "").replace(
    SESSION_CHECK, ""
)
assert "request_session" not in SET_TENANT_CONTEXT_UNCHECKED
PARAMETERS = {
    "user_id": f"{USER}::text",
    "org_id": f"{ORG}::text",
    "statement_timeout": ":timeout",
    "session_id": f"{SESSION}::text",
    "request_id": f"'{REQUEST_ID}'",
}
CONTEXT = SET_TENANT_CONTEXT % PARAMETERS
CONTEXT_UNCHECKED = SET_TENANT_CONTEXT_UNCHECKED % PARAMETERS


@dataclass(frozen=True)
class Script:
    name: str
    text: str


def _typical_tenant(plan: Plan) -> str:
    # A typical organization and its ORG_ADMIN (user i of organization i).
    return f"\\set o random(3, {plan.organizations})\n\\set u :o\n\\set timeout 5000\n"


def _typical_project(plan: Plan) -> str:
    # A project of a typical organization, and that organization (bench/plan.py).
    first = plan.first_typical_project
    return (
        f"\\set k random({first}, {plan.projects})\n"
        f"\\set o 3 + (:k - {first}) % {plan.typical_organizations}\n"
        "\\set u :o\n\\set timeout 5000\n"
    )


def _rls(statement: str) -> str:
    # As the API sends a tenant statement: the context and the statement in
    # one pipeline, one round trip, one implicit transaction.
    return f"\\startpipeline\n{CONTEXT};\n{statement.strip()};\n\\endpipeline\n"


def _app(statement: str) -> str:
    # As an app-filter service sends it: one statement, autocommit.
    return f"{statement.strip()};\n"


def _member(roles: str | None = None) -> str:
    """What every RLS statement's policy checks: an active membership (with one of roles)."""
    role = f" and m.role in ({roles})" if roles else ""
    return (
        "exists (select 1 from iam.organization_memberships as m"
        " join iam.users as u on u.id = m.user_id"
        f" where m.organization_id = {ORG} and m.user_id = {USER} and u.is_active{role})"
    )


@dataclass(frozen=True)
class ABScripts:
    """One operation three ways: RLS, app filter, and app filter plus the membership check."""

    rls: Script
    app: Script
    checked: Script


def ab_scripts(plan: Plan) -> dict[str, ABScripts]:
    tenant = _typical_tenant(plan)
    project = _typical_project(plan)
    page = "order by created_at desc, id desc limit 50"
    new_name = "'bench-' || gen_random_uuid()"
    writers = "'ORG_ADMIN', 'ORG_USER'"
    insert_app = (
        "insert into iam.projects (organization_id, created_by_user_id, name, description)"
        f" select {ORG}, {USER}, {new_name}, 'pgbench'"
    )
    update_app = (
        "update iam.projects set description = 'pgbench'"
        f" where organization_id = {ORG} and id = {PROJECT}"
    )
    list_app = f"select {COLUMNS} from iam.projects where organization_id = {ORG}"
    get_app = f"select {COLUMNS} from iam.projects where organization_id = {ORG} and id = {PROJECT}"
    return {
        "list (page of 50)": ABScripts(
            Script("rls-list", tenant + _rls(f"select {COLUMNS} from iam.projects {page}")),
            Script("app-list", tenant + _app(f"{list_app} {page}")),
            Script("checked-list", tenant + _app(f"{list_app} and {_member()} {page}")),
        ),
        "get by id": ABScripts(
            Script(
                "rls-get",
                project + _rls(f"select {COLUMNS} from iam.projects where id = {PROJECT}"),
            ),
            Script("app-get", project + _app(get_app)),
            Script("checked-get", project + _app(f"{get_app} and {_member()}")),
        ),
        "insert": ABScripts(
            Script(
                "rls-insert",
                tenant
                + _rls(
                    "insert into iam.projects (name, description)"
                    f" values ({new_name}, 'pgbench') returning id"
                ),
            ),
            Script("app-insert", tenant + _app(f"{insert_app} returning id")),
            Script(
                "checked-insert",
                tenant + _app(f"{insert_app} where {_member(writers)} returning id"),
            ),
        ),
        "update by id": ABScripts(
            Script(
                "rls-update",
                project
                + _rls(f"update iam.projects set description = 'pgbench' where id = {PROJECT}"),
            ),
            Script("app-update", project + _app(update_app)),
            Script("checked-update", project + _app(f"{update_app} and {_member(writers)}")),
        ),
    }


def api_list_script(plan: Plan, tenant: str | None = None, *, session_check: bool = True) -> Script:
    """GET /projects as the API runs it: the context (with the caller's role and the
    session check) and the first page (LIST_FIRST, limit 50) in one pipeline, one
    implicit transaction. session_check=False leaves the check out."""
    variables = tenant if tenant is not None else _typical_tenant(plan)
    page = projects.LIST_FIRST.replace("%(limit)s", ":limit").strip()
    text = (
        variables
        + "\\set limit 50\n"
        + "\\startpipeline\n"
        + f"{CONTEXT if session_check else CONTEXT_UNCHECKED};\n{page};\n"
        + "\\endpipeline\n"
    )
    return Script("api-list" if session_check else "api-list-unchecked", text)


def api_lookup_script(plan: Plan, *, session_check: bool) -> Script:
    """The request pipeline without a route statement: the context statement only
    (which reads the caller), with or without the session check, to isolate the check."""
    context = CONTEXT if session_check else CONTEXT_UNCHECKED
    text = _typical_tenant(plan) + "\\startpipeline\n" + f"{context};\n" + "\\endpipeline\n"
    return Script("api-lookup" if session_check else "api-lookup-unchecked", text)


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    transactions: int


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
_COUNT = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)


def pgbench_binary() -> Path:
    return wheel_bin_dir() / "pgbench"


# How psycopg sends statements: "prepared" (server-side prepared statements,
# the API's default) or "extended" (unnamed statements, parsed every time:
# DATABASE_POOLER=transaction, as behind Supavisor or PgBouncer).
PROTOCOLS = ("prepared", "extended")


def run_pgbench(
    conninfo: str,
    script: Script,
    *,
    duration: int,
    clients: int,
    threads: int,
    protocol: str = "prepared",
) -> PgbenchResult:
    """One timed pgbench run, with the protocol the API uses (see PROTOCOLS)."""
    with tempfile.NamedTemporaryFile("w", suffix=f"-{script.name}.sql") as handle:
        handle.write(script.text)
        handle.flush()
        argv = [
            str(pgbench_binary()),
            "--no-vacuum",
            f"--protocol={protocol}",
            f"--client={clients}",
            f"--jobs={threads}",
            f"--time={duration}",
            f"--file={handle.name}",
            conninfo,
        ]
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv, capture_output=True, text=True, check=False, timeout=duration + 120
        )
    out = done.stdout
    tps, latency, count = _TPS.search(out), _LATENCY.search(out), _COUNT.search(out)
    failed = _FAILED.search(out)
    if done.returncode != 0 or tps is None or latency is None or count is None:
        raise RuntimeError(
            f"pgbench {script.name} failed ({done.returncode}):\n"
            f"{done.stderr[-2000:]}\n{out[-2000:]}"
        )
    if failed is not None and int(failed.group(1)) > 0:
        raise RuntimeError(f"pgbench {script.name}: {failed.group(1)} failed transactions")
    return PgbenchResult(float(tps.group(1)), float(latency.group(1)), int(count.group(1)))
