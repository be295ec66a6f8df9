"""pgbench scripts and runs: the RLS path against the app-filter path; the API's transaction.

Random ids come from pgbench's \\set; the uuid of row n is md5 of a label
(see bench/plan.py), computed in the statement, the same way in both paths.
The RLS path sets the context with the API's own statement (SET_TENANT_CONTEXT)
and runs SQL with no tenant filter. The app-filter path is the seed design's
privileged path: the superuser, which RLS does not apply to, with an explicit
WHERE organization_id = ... in every statement.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.plan import Plan
from service.embedded import wheel_bin_dir
from service.queries import projects
from service.tenancy import READ_MEMBER_ROLE, SET_TENANT_CONTEXT

COLUMNS = ", ".join(projects.COLUMNS)
ORG = "md5('o' || :o)::uuid"
USER = "md5('u' || :u)::uuid"
PROJECT = "md5('p' || :k)::uuid"
# The API's context statement, its parameters computed from pgbench variables.
CONTEXT = SET_TENANT_CONTEXT % (f"{USER}::text", f"{ORG}::text", ":timeout")


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


def _transaction(*statements: str) -> str:
    return "BEGIN;\n" + "".join(f"{s.strip()};\n" for s in statements) + "COMMIT;\n"


def ab_scripts(plan: Plan) -> dict[str, tuple[Script, Script]]:
    """Per operation: (RLS path, app-filter path)."""
    tenant = _typical_tenant(plan)
    project = _typical_project(plan)
    page = "order by created_at desc, id desc limit 50"
    new_name = "'bench-' || gen_random_uuid()"
    return {
        "list (page of 50)": (
            Script(
                "rls-list",
                tenant + _transaction(CONTEXT, f"select {COLUMNS} from iam.projects {page}"),
            ),
            Script(
                "app-list",
                tenant
                + _transaction(
                    f"select {COLUMNS} from iam.projects where organization_id = {ORG} {page}"
                ),
            ),
        ),
        "get by id": (
            Script(
                "rls-get",
                project
                + _transaction(CONTEXT, f"select {COLUMNS} from iam.projects where id = {PROJECT}"),
            ),
            Script(
                "app-get",
                project
                + _transaction(
                    f"select {COLUMNS} from iam.projects"
                    f" where organization_id = {ORG} and id = {PROJECT}"
                ),
            ),
        ),
        "insert": (
            Script(
                "rls-insert",
                tenant
                + _transaction(
                    CONTEXT,
                    "insert into iam.projects (name, description)"
                    f" values ({new_name}, 'pgbench') returning id",
                ),
            ),
            Script(
                "app-insert",
                tenant
                + _transaction(
                    "insert into iam.projects"
                    " (organization_id, created_by_user_id, name, description)"
                    f" values ({ORG}, {USER}, {new_name}, 'pgbench') returning id"
                ),
            ),
        ),
        "update by id": (
            Script(
                "rls-update",
                project
                + _transaction(
                    CONTEXT,
                    f"update iam.projects set description = 'pgbench' where id = {PROJECT}",
                ),
            ),
            Script(
                "app-update",
                project
                + _transaction(
                    "update iam.projects set description = 'pgbench'"
                    f" where organization_id = {ORG} and id = {PROJECT}"
                ),
            ),
        ),
    }


def api_list_script(plan: Plan, tenant: str | None = None) -> Script:
    """GET /projects as the API runs it: the context, the role lookup and the first
    page (LIST_FIRST, limit 50) in one pipeline, one implicit transaction."""
    variables = tenant if tenant is not None else _typical_tenant(plan)
    page = projects.LIST_FIRST.replace("%(limit)s", ":limit").strip()
    text = (
        variables
        + "\\set limit 50\n"
        + "\\startpipeline\n"
        + f"{CONTEXT};\n{READ_MEMBER_ROLE};\n{page};\n"
        + "\\endpipeline\n"
    )
    return Script("api-list", text)


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


def run_pgbench(
    conninfo: str, script: Script, *, duration: int, clients: int, threads: int
) -> PgbenchResult:
    """One timed pgbench run with server-side prepared statements, as the API uses them."""
    with tempfile.NamedTemporaryFile("w", suffix=f"-{script.name}.sql") as handle:
        handle.write(script.text)
        handle.flush()
        argv = [
            str(pgbench_binary()),
            "--no-vacuum",
            "--protocol=prepared",
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
