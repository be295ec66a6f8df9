#!/usr/bin/env bash
# DBA tooling against a system PostgreSQL ($PG_URL, a superuser URL of a
# throwaway cluster; $PG_MAJOR, default 15, its major): migrate a fresh
# database with `rls-iam db migrate`, run the pgTAP suite with pg_prove,
# then `rls-iam policies check`, `lint` and `matrix`, whose output must equal
# the expected matrix and docs/policies.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PG_URL:?PG_URL must name a PostgreSQL superuser connection}"
PG_MAJOR="${PG_MAJOR:-15}"

if [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl >/dev/null
fi

DB="rls_iam_pgtap_$$"
DB_URL="${PG_URL%/*}/$DB"
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
cleanup() { psql_admin -c "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

psql_admin -c "create database \"$DB\""
# dbmate's driver requires SSL unless the URL says otherwise.
DATABASE_URL="$DB_URL?sslmode=disable" rls-iam db migrate
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "create extension if not exists pgtap"

echo "--- pg_prove db/tests/*.sql"
pg_prove -d "$DB_URL" db/tests/*.sql

echo "--- rls-iam policies check"
rls-iam policies check --database-url "$DB_URL"

echo "--- rls-iam policies lint"
rls-iam policies lint --database-url "$DB_URL"

echo "--- rls-iam policies matrix"
rls-iam policies matrix --database-url "$DB_URL"
rls-iam policies matrix --format json --database-url "$DB_URL" > "/tmp/$DB.json"
python - "/tmp/$DB.json" tests/audit/expected_matrix.json <<'PY'
import json, sys
measured, expected = (json.load(open(path)) for path in sys.argv[1:])
if measured != expected:
    sys.exit(f"the measured matrix differs from {sys.argv[2]}:\n{json.dumps(measured, indent=2)}")
print("matrix: as expected")
PY
rm -f "/tmp/$DB.json"
if ! rls-iam policies matrix --format markdown --database-url "$DB_URL" | diff -u docs/policies.md -; then
  echo "docs/policies.md is stale: rls-iam policies matrix --format markdown > docs/policies.md" >&2
  exit 1
fi
echo "docs/policies.md: current"
