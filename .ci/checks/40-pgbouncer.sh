#!/usr/bin/env bash
# The API and resilience suites a second time, with the app behind PgBouncer
# in transaction mode and one server connection per database, as behind
# Supabase's Supavisor or any transaction-mode pooler. Fixtures and
# migrations keep talking to PostgreSQL directly (TEST_DATABASE_URL); only
# the app goes through the pooler (TEST_API_DATABASE_URL), with
# DATABASE_POOLER=transaction. PgBouncer runs no reset query between
# clients, so a context that outlived its transaction would show.
#
#   PG_URL=postgresql://postgres@127.0.0.1:54315/postgres .ci/checks/40-pgbouncer.sh [pytest args]
#
# Arguments replace the default selection: the API suite, the pooler and
# concurrency tests, the database outage behind a PgBouncer of its own, and
# the Vercel entrypoint (the other fault tests run servers of their own,
# without the pooler).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PG_URL:?PG_URL must name a running PostgreSQL (superuser, trust)}"
PGBOUNCER_PORT="${PGBOUNCER_PORT:-64320}"
if [ "$#" -eq 0 ]; then
  set -- tests/api tests/resilience/test_pooler.py tests/resilience/test_concurrency.py \
    tests/resilience/test_pooler_outage.py tests/deploy/test_vercel.py
fi

step() { printf -- '--- %s\n' "$*"; }

step "install pgbouncer"
if ! command -v pgbouncer >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
  else
    echo "pgbouncer is not installed and we are not root to install it" >&2
    exit 1
  fi
fi
pgbouncer --version | head -n 1

# Without it, the API suite would quietly run without the pooler.
grep -q TEST_API_DATABASE_URL tests/support/api.py || {
  echo "tests/support/api.py does not route the app through TEST_API_DATABASE_URL" >&2
  exit 1
}

# The server's address, and a direct URL dbmate accepts (no SSL on a local cluster).
read -r PG_HOST PG_PORT DIRECT_URL < <(python - "$PG_URL" <<'PY'
import sys
from psycopg.conninfo import conninfo_to_dict
from service.db.target import conninfo_to_url
params = conninfo_to_dict(sys.argv[1])
params.setdefault("sslmode", "disable")
print(params.get("host") or "127.0.0.1", params.get("port") or "5432",
      conninfo_to_url(" ".join(f"{k}={v}" for k, v in params.items())))
PY
)

RUN_DIR=$(mktemp -d /tmp/rls-iam-pgbouncer.XXXXXX)
chmod 755 "$RUN_DIR"
stop_pgbouncer() {
  if [ -s "$RUN_DIR/pgbouncer.pid" ]; then
    kill "$(cat "$RUN_DIR/pgbouncer.pid")" 2>/dev/null || true
    sleep 0.5
  fi
  rm -rf "$RUN_DIR"
}
trap stop_pgbouncer EXIT

cat >"$RUN_DIR/pgbouncer.ini" <<INI
[databases]
; Any database name: each test session migrates a database of its own.
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $RUN_DIR/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_reset_query_always = 0
; psycopg sends neither, but drivers that do must still get in.
ignore_startup_parameters = extra_float_digits,options
; A client waiting for the one server connection fails instead of hanging.
query_wait_timeout = 30
logfile = $RUN_DIR/pgbouncer.log
pidfile = $RUN_DIR/pgbouncer.pid
INI
# trust still wants the user listed.
printf '"postgres" ""\n' >"$RUN_DIR/userlist.txt"

step "start pgbouncer on 127.0.0.1:$PGBOUNCER_PORT (pool_mode=transaction, default_pool_size=1)"
if [ "$(id -u)" = 0 ]; then
  # PgBouncer refuses to run as root.
  chown -R postgres:postgres "$RUN_DIR"
  runuser -u postgres -- pgbouncer -d "$RUN_DIR/pgbouncer.ini"
else
  pgbouncer -d "$RUN_DIR/pgbouncer.ini"
fi
POOLER_URL="postgresql://postgres@127.0.0.1:$PGBOUNCER_PORT/postgres"
python - "$POOLER_URL" <<'PY'
import sys
import time

import psycopg

deadline = time.monotonic() + 15
while True:
    try:
        with psycopg.connect(sys.argv[1], connect_timeout=2) as conn:
            conn.execute("select 1")
        break
    except psycopg.OperationalError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
print("pgbouncer answers")
PY

step "pytest $* through pgbouncer"
code=0
TEST_DATABASE_URL="$DIRECT_URL" \
TEST_API_DATABASE_URL="$POOLER_URL" \
TEST_DATABASE_POOLER=transaction \
  pytest -q -p no:cacheprovider "$@" || code=$?
if [ "$code" = 5 ]; then
  echo "pytest collected no tests" >&2
fi
if [ "$code" != 0 ]; then
  echo "--- pgbouncer log (tail)" >&2
  tail -n 40 "$RUN_DIR/pgbouncer.log" >&2 || true
fi
exit "$code"
