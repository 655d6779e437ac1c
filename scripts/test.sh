#!/usr/bin/env bash
# Set up everything and run every check: lint, types, unit, PostgreSQL and browser tests, notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { echo "== $1 done after ${SECONDS} s"; }  # where the time goes, in the CI log
bash scripts/setup.sh --browser
phase "setup"

# The PostgreSQL tests need the local server; start it when it is installed but stopped.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

export LANGGRAPH_STRICT_MSGPACK=true
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
phase "lint and types"
if (( $# )); then
  exec .venv/bin/pytest "$@"
fi
# Two workers for everything that may share the machine, then, alone, the real-browser tests (their
# clicks race the page's redraws when the machine is busy) and the soak (it restarts PostgreSQL).
status=0
.venv/bin/pytest -n "${HITL_TEST_WORKERS:-2}" --dist worksteal -m "not browser and not serial" --durations=15 || status=$?
phase "tests in parallel"
.venv/bin/pytest -m "browser or serial" --durations=10 || status=$?  # runs even when the first part failed: one run, every failure
phase "browser and serial tests"
exit "$status"
