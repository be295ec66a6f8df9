"""A typed client generated from the live /openapi.json type-checks and runs (docs/api.md).

openapi-python-client generates `rls_iam_client` from the document the app
serves; tests/client/scenario.py, a short program against it, must pass
`mypy --strict` and then run against the API: register, create, page,
update, and a 409 parsed into its typed problem.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = [pytest.mark.client, pytest.mark.slow]

SCENARIO = Path(__file__).with_name("scenario.py")


@pytest.fixture(scope="module")
def generated(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("typed-client")
    document = root / "openapi.json"
    document.write_text(json.dumps(client.get("/openapi.json").json()))
    generator = shutil.which("openapi-python-client")
    assert generator, "openapi-python-client is not installed: pip install -e '.[test]'"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            generator,
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(root / "rls_iam_client"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The generator warns about what it could not model; a warning is a gap in the document.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    shutil.copy(SCENARIO, root / "scenario.py")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.split(".")[0] in ("rls_iam_client", "scenario")]:
            del sys.modules[name]


# The generator's fixed HTTP wrapper (client.py, the same for every document)
# forwards `__exit__(*args)` in a way that newer mypy releases flag; all that
# is generated from the document (models, operations) is checked strictly.
MYPY_CONFIG = """
[mypy]
strict = True

[mypy-rls_iam_client.client]
ignore_errors = True
"""


def test_generated_client_and_scenario_pass_mypy_strict(generated: Path) -> None:
    (generated / "mypy.ini").write_text(MYPY_CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--config-file",
            "mypy.ini",
            "scenario.py",
            "rls_iam_client",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=generated,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scenario_runs_against_the_api(generated: Path, client: TestClient) -> None:
    scenario = importlib.import_module("scenario")
    email = f"typed-{uuid.uuid4().hex[:12]}@example.com"
    steps = scenario.run(str(client.base_url), client._transport, email)
    assert steps == [
        "registered",
        "created 3",
        "paged",
        "updated",
        "/problems/name-taken",
        "/problems/last-admin",
    ]
