"""Every SQL statement the API sends, rendered as text, for the committed snapshots.

A pytest plugin (loaded by tests/conftest.py) for the `--snapshot-update`
option, and the renderer that tests/snapshots/test_sql.py compares with
tests/snapshots/sql/. `make snapshots` (part of `make docs`) rewrites them.

The statements are found by reading the source, not by running it, so every
one is rendered whether a test exercises it or not:

- a module-level string of the module that reads as a whole statement
  (starts with select, with, insert, update, delete, begin, commit or
  rollback), composed by whatever builders made it (keyset_page, _page);
- the first argument of every `.execute(...)`, `.fetchone(...)` or
  `.fetchone_with_role(...)` call in the module whose value is known from the
  module alone (a literal, a constant, `CONSTANT + " returning 1"`). An
  argument that names a function parameter (fetch_page's `first`) is a
  statement rendered where it was defined.

The API's SQL lives in service/db/runner.py and service/db/queries/; any
other module of service/db/ with SQL in it is rendered too, except the
plumbing that runs at migration or start-up time, never in a request
(MIGRATION_TIME). SQL outside service/db/ and the DBA tools (service/audit/)
makes the test fail.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_DIR = REPO / "tests" / "snapshots" / "sql"
UPDATE_COMMAND = "make snapshots  (or: pytest tests/snapshots --snapshot-update)"

STATEMENT = re.compile(r"^\s*(select|with|insert|update|delete|begin|commit|rollback)\b", re.I)
RUNS_SQL = {"execute", "fetchone", "fetchone_with_role", "executemany"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="rewrite tests/snapshots/sql/ from the code instead of comparing",
    )


@dataclass(frozen=True)
class Statement:
    name: str
    sql: str


DB = REPO / "service" / "db"
# service/db/ modules whose SQL runs when migrating or starting a server,
# never in a request.
MIGRATION_TIME = {"embedded.py", "login_role.py", "migrate.py"}


def api_sql_modules() -> list[Path]:
    """The modules whose statements the API sends: runner.py, queries/, and any
    other service/db/ module with SQL in it that does not run at migration time."""
    found = [DB / "runner.py", *sorted((DB / "queries").rglob("*.py"))]
    for path in sorted(DB.rglob("*.py")):
        if path not in found and path.name not in MIGRATION_TIME and sql_literals_in(path):
            found.append(path)
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def snapshot_path(path: Path) -> Path:
    return SNAPSHOT_DIR / f"{module_name(path)}.sql"


def _calls(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    """(enclosing function, first argument) of every call that runs SQL, in source order."""
    found: list[tuple[str, ast.expr]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{where}.{child.name}" if where else child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in RUNS_SQL
                and child.args
            ):
                found.append((inner or "<module>", child.args[0]))
            visit(child, inner)

    visit(tree, "")
    return found


def statements(path: Path) -> list[Statement]:
    """The statements a module sends, constants first (in source order), then inline ones."""
    module = importlib.import_module(module_name(path))
    namespace = vars(module)
    tree = ast.parse(path.read_text(), filename=str(path))
    rendered: list[Statement] = []
    seen: set[str] = set()

    def add(name: str, sql: object) -> bool:
        if isinstance(sql, str) and STATEMENT.match(sql) and sql.strip() not in seen:
            seen.add(sql.strip())
            rendered.append(Statement(name, sql.strip()))
            return True
        return False

    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                add(target.id, namespace.get(target.id))
    counts: dict[str, int] = {}
    for where, argument in _calls(tree):
        try:
            # Our own source, in our own module's namespace: a name that is
            # not a module global is a parameter, rendered where it came from.
            value = eval(  # noqa: S307
                compile(ast.Expression(argument), str(path), "eval"), dict(namespace)
            )
        except NameError:
            continue
        number = counts.get(where, 0) + 1
        if add(f"{where}()" + ("" if number == 1 else f" #{number}"), value):
            counts[where] = number
    return rendered


def render(path: Path) -> str:
    """The snapshot's text; empty for a module that sends nothing (it has no file)."""
    found = statements(path)
    if not found:
        return ""
    lines = [
        f"-- Every SQL statement {module_name(path)} sends, as PostgreSQL receives it.",
        f"-- Generated; do not edit. Rewrite with: {UPDATE_COMMAND}",
    ]
    for statement in found:
        lines += ["", f"-- {statement.name}", f"{statement.sql};"]
    return "\n".join(lines) + "\n"


def sql_literals_in(path: Path) -> list[str]:
    """`file:line` of the string literals of a module that read as SQL statements."""
    return [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.match(r"^\s*(select|with|insert|update|delete)\s", node.value, re.I)
    ]


def sql_outside_the_database_layer() -> list[str]:
    """SQL literals anywhere in service/ but service/db/ and service/audit/."""
    allowed = (REPO / "service" / "db", REPO / "service" / "audit")
    return [
        where
        for path in sorted((REPO / "service").rglob("*.py"))
        if not path.is_relative_to(allowed[0]) and not path.is_relative_to(allowed[1])
        for where in sql_literals_in(path)
    ]
