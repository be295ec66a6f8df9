"""The measured matrix as text (terminals), markdown (docs/policies.md) or JSON (CI)."""

from __future__ import annotations

import json
import re

from service.audit.matrix import ACTIONS, Matrix

MARKDOWN_HEADER = """\
# Who may do what, as the database enforces it

This file is generated: `rls-iam policies matrix --format markdown > docs/policies.md`.
CI regenerates it against a freshly migrated database and fails when it differs.

Each cell is measured, not declared. In one transaction that is rolled back at
the end, the command seeds a scratch organization with an `ORG_ADMIN` (plus a
second one, the target of the admin actions), an `ORG_USER` and a `READ_ONLY`
member, and a neighbouring organization whose `ORG_ADMIN` is the **outsider**.
Then, for every action and every actor, it opens a savepoint, switches to
`iam_authenticated` with that actor's `iam.user_id` and the scratch
organization as `iam.org_id` (the outsider claims it too), runs the
statement below and rolls the savepoint back. The **anonymous** actor is a
request without a token: `iam_anon` with no context at all.

An action is **denied** when PostgreSQL refuses it (SQLSTATE 42501), when it
changes no row, or when the rows are not visible. A read is **allowed** when
it returns exactly the scratch organization's rows. The scratch organization
also holds a pending invitation, and its neighbour one of its own.

Nobody adds a member directly: members join by accepting an invitation,
which each invitee does for themself (`iam.accept_invitation`), so it is no
row of this role table. Deleting the organization takes its memberships,
projects and invitations with it.
"""


def as_json(matrix: Matrix) -> str:
    return json.dumps({"actors": list(matrix.actors), "matrix": matrix.results}, indent=2) + "\n"


def as_text(matrix: Matrix) -> str:
    rows = [["action", *matrix.actors]]
    rows += [[a.label, *(matrix.results[a.key][actor] for actor in matrix.actors)] for a in ACTIONS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def as_markdown(matrix: Matrix) -> str:
    header = ["action", *matrix.actors]
    lines = [MARKDOWN_HEADER, _row(header), _row(["---"] * len(header))]
    for action in ACTIONS:
        lines.append(_row([action.label, *(matrix.results[action.key][a] for a in matrix.actors)]))
    lines += ["", "## The statement behind each row", ""]
    lines += [_row(["action", "SQL, as the actor"]), _row(["---", "---"])]
    for action in ACTIONS:
        lines.append(_row([action.label, f"`{_psql_style(action.sql)}`"]))
    lines += [
        "",
        "`:org` is the scratch organization, `:project` its project, `:co_admin` the"
        " second `ORG_ADMIN`, `:newcomer` a user who belongs to no organization yet and"
        " `:me` the actor, `:invitation` the scratch organization's pending invitation,"
        " `:admin_email` the `ORG_ADMIN`'s email and `:fresh_email` an email nobody has"
        " registered.",
        "",
    ]
    return "\n".join(lines)


def _psql_style(query: str) -> str:
    """%(name)s placeholders as psql variables, the way a DBA would rerun them."""
    return re.sub(r"%\((\w+)\)s", r":\1", query)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
