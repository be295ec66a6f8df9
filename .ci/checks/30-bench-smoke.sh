#!/usr/bin/env bash
# The bench, small: a 1% dataset, 1 s per measurement, one round, on the
# embedded PostgreSQL (not the system PostgreSQL cluster of .ci/run). It keeps
# `python -m bench` from rotting; it fails when the bench crashes, never on a
# missed target (those are figures for docs/performance.md, from a full run).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
  else
    echo "wrk is not installed (apt-get install wrk)" >&2
    exit 1
  fi
fi

unset DATABASE_URL
started=$(date +%s)
# SIGTERM lets the bench stop its API servers and its PostgreSQL on a timeout.
timeout --signal=TERM --kill-after=20 180 \
  python -m bench --scale 0.01 --duration 1 --rounds 1 --output /tmp/perf.md
elapsed=$(( $(date +%s) - started ))
grep -q '^## Memory' /tmp/perf.md
echo "bench smoke: report in /tmp/perf.md after ${elapsed} s"
