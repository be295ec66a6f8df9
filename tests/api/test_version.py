"""One release number: the package, the OpenAPI document and /healthz agree.

The number lives in service/__init__.py; pyproject.toml reads it from there
and CHANGELOG.md has a section for it.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

from service import __version__

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_takes_its_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"], "pyproject.toml must not repeat the version"
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "service.__version__"}


def test_installed_package_openapi_and_healthz_agree(client: TestClient) -> None:
    installed = importlib.metadata.version("rls-iam")
    openapi = client.get("/openapi.json").json()["info"]["version"]
    healthz = client.get("/healthz").json()["version"]
    assert (installed, openapi, healthz) == (__version__,) * 3, (
        "the installed metadata is stale: pip install -e '.[test]'"
        if installed != __version__
        else "the OpenAPI document or /healthz does not report service.__version__"
    )


def test_changelog_has_a_section_for_the_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(
        rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M
    )
    assert re.search(r"^## \[Unreleased\]$", changelog, re.M)
