# The project's tasks. .ci/run (and through it the GitHub workflow) and the
# pre-commit hooks call these targets, so every CI runs the same commands.
#
#   make dev          install the package with the test and lint tools
#   make lint         ruff (check and format) and mypy (strict), as CI runs them
#   make format       apply ruff's fixes and formatting
#   make test-fast    the inner loop: pytest -m "not slow"
#   make test         the whole suite (the README's test command, installed)
#   make test-server  the suite on PG_URL, a PostgreSQL $(PG_MAJOR) server of your own
#   make pgtap        pgTAP and `rls-iam policies check | lint | matrix` on PG_URL
#   make pgbouncer    the API suite through PgBouncer in transaction mode, on PG_URL
#   make deploy-lint  Dockerfile, workflows, Compose file and .env.example
#   make bench-smoke  the bench on a 1% dataset (needs wrk)
#   make docs         regenerate db/schema.sql, docs/policies.md and the SQL snapshots
#   make snapshots    rewrite tests/snapshots/sql/ (every statement the API sends)
#   make checks       every .ci/checks/*.sh in order, on PG_URL
#   make ci           everything CI runs, on a fresh Debian machine (root): .ci/run
#
# PG_URL: a superuser URL of a throwaway PostgreSQL server, e.g.
# postgresql://postgres@127.0.0.1:5432/postgres. PG_MAJOR: its major version
# (15, 16 or 17), for the packages the checks install.

PYTHON ?= python
PG_MAJOR ?= 15
PG_URL ?=
PYTEST_ARGS ?=
export PG_MAJOR

# Every Python folder is linted; mypy --strict on all but the tests.
LINT_PATHS := service tests scripts api bench
TYPED_PATHS := service scripts api bench

.PHONY: dev lint format test-fast test test-server pgtap pgbouncer deploy-lint bench-smoke \
	docs snapshots checks ci need-pg-url

dev:
	$(PYTHON) -m pip install -e '.[dev]'

lint:
	ruff check $(LINT_PATHS)
	ruff format --check $(LINT_PATHS)
	mypy $(TYPED_PATHS)

format:
	ruff check --fix $(LINT_PATHS)
	ruff format $(LINT_PATHS)

test-fast:
	pytest -m "not slow"

test:
	pytest

# Tests that drive server processes of their own (marker `processes`), the
# HTTP fuzzers (`fuzz`) and the generated client (`client`) do not depend on
# the session's server: `make test` runs them.
# PYTEST_ARGS narrows it further (.ci/run names the SQL-level suites; its
# PgBouncer pass runs the API suites on the same server).
test-server: need-pg-url
	TEST_DATABASE_URL="$(PG_URL)" pytest -m "not processes and not fuzz and not client" $(PYTEST_ARGS)

pgtap: need-pg-url
	PG_URL="$(PG_URL)" bash .ci/checks/20-pgtap.sh

pgbouncer: need-pg-url
	PG_URL="$(PG_URL)" bash .ci/checks/40-pgbouncer.sh

deploy-lint:
	bash .ci/checks/10-deploy-lint.sh

bench-smoke:
	bash .ci/checks/30-bench-smoke.sh

docs: snapshots
	$(PYTHON) scripts/generate_docs.py

# The statements come from the source alone: no database needed.
snapshots:
	$(PYTHON) -m pytest tests/snapshots -q -p no:cacheprovider --snapshot-update

checks: need-pg-url
	@set -e; for check in .ci/checks/*.sh; do \
	  printf '\n==== %s (%s) ====\n' "$$check" "$$(date -u +%H:%M:%S)"; \
	  PG_URL="$(PG_URL)" bash "$$check"; \
	done

ci:
	.ci/run

need-pg-url:
	@test -n "$(PG_URL)" || { \
	  echo "PG_URL is not set: a superuser URL of a throwaway PostgreSQL $(PG_MAJOR) server" >&2; \
	  exit 2; }
