#!/usr/bin/env bash
# A long schemathesis campaign against a running API (`rls-iam serve`), once per role.
#
# It registers a fresh organization, adds an ORG_USER and a READ_ONLY member,
# logs each in, and runs `st run` with each one's token, then without a token.
# The CI-sized run of the same idea is tests/security/test_schemathesis.py.
#
#   rls-iam serve &                       # or any deployment of the API
#   scripts/schemathesis_long.sh          # BASE_URL=http://127.0.0.1:3000 by default
#
# Environment:
#   BASE_URL      the API's address                      (http://127.0.0.1:3000)
#   MAX_EXAMPLES  cases per operation and mode           (500)
#   MAX_TIME      optional time budget per role, seconds (unset: no budget)
#   ST_CHECKS     schemathesis checks                    (all)
#   ST_EXCLUDE    checks to leave out, comma-separated   (none)
#   REPORT_DIR    JUnit reports, one per role            (schemathesis-report)
#
# Rate limits apply to /auth/register and /auth/login as usual: their 429s are
# documented answers. Exit status: 0 when every role's run passed.
set -euo pipefail

BASE_URL="${BASE_URL:-http://127.0.0.1:3000}"
MAX_EXAMPLES="${MAX_EXAMPLES:-500}"
ST_CHECKS="${ST_CHECKS:-all}"
REPORT_DIR="${REPORT_DIR:-schemathesis-report}"

command -v st >/dev/null || { echo "st not found: pip install -e '.[test]'" >&2; exit 2; }
curl -fsS "$BASE_URL/healthz" >/dev/null || { echo "no API at $BASE_URL" >&2; exit 2; }

# One line per role: ROLE TOKEN.
tokens="$(BASE_URL="$BASE_URL" python - <<'PY'
import os
import uuid

import httpx

base = os.environ["BASE_URL"]
password = "schemathesis-" + uuid.uuid4().hex
tag = uuid.uuid4().hex[:10]


def register(label: str) -> dict:
    email = f"st-{label}-{tag}@example.com"
    response = httpx.post(
        f"{base}/auth/register",
        json={"email": email, "password": password, "organization_name": f"schemathesis {tag}"},
    )
    response.raise_for_status()
    return {"email": email, **response.json()}


admin = register("admin")
org_id = admin["organization"]["id"]
auth = {"Authorization": f"Bearer {admin['access_token']}"}
print("ORG_ADMIN", admin["access_token"])
for role in ("ORG_USER", "READ_ONLY"):
    member = register(role.lower().replace("_", "-"))
    added = httpx.post(f"{base}/members", json={"email": member["email"], "role": role}, headers=auth)
    added.raise_for_status()
    login = httpx.post(
        f"{base}/auth/login",
        json={"email": member["email"], "password": password, "organization_id": org_id},
    )
    login.raise_for_status()
    print(role, login.json()["access_token"])
# Something for the readers to find.
for i in range(3):
    httpx.post(f"{base}/projects", json={"name": f"seed {i}"}, headers=auth).raise_for_status()
PY
)"

mkdir -p "$REPORT_DIR"
failed=0
run_role() {
  local role="$1"; shift
  local args=("$BASE_URL/openapi.json" --checks "$ST_CHECKS" --max-examples "$MAX_EXAMPLES"
              --suppress-health-check all --report junit
              --report-junit-path "$REPORT_DIR/$role.xml" "$@")
  [[ -n "${ST_EXCLUDE:-}" ]] && args+=(--exclude-checks "$ST_EXCLUDE")
  [[ -n "${MAX_TIME:-}" ]] && args+=(--max-time "$MAX_TIME")
  echo "=== schemathesis as $role: ${MAX_EXAMPLES} examples per operation, checks $ST_CHECKS"
  if ! st run "${args[@]}"; then
    echo "=== $role: FAILED"
    failed=1
  fi
}

mapfile -t lines <<< "$tokens"
for line in "${lines[@]}"; do
  run_role "${line%% *}" --header "Authorization: Bearer ${line#* }" </dev/null
done
run_role anonymous </dev/null

exit "$failed"
