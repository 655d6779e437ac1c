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
if (( $# )); then
  .venv/bin/mypy
  phase "lint and types"
  exec .venv/bin/pytest "$@"
fi
# The type check (about a minute of one core on a fresh clone) runs beside the parallel tests, whose
# workers often wait on subprocesses and servers; its report follows theirs.
types_log=$(mktemp)
.venv/bin/mypy > "$types_log" 2>&1 &
types=$!
# Three workers for everything that may share the machine (on two cores: they often wait), then,
# alone, the real-browser tests (their clicks race the page's redraws when the machine is busy) and
# the soak (it restarts PostgreSQL).
status=0
.venv/bin/pytest -n "${HITL_TEST_WORKERS:-3}" --dist worksteal -m "not browser and not serial" --durations=15 || status=$?
phase "tests in parallel"
types_status=0
wait "$types" || types_status=$?
cat "$types_log"
rm -f "$types_log"
phase "types"
(( types_status == 0 )) || status=$types_status
.venv/bin/pytest -m "browser or serial" --durations=10 || status=$?  # runs even when the first part failed: one run, every failure
phase "browser and serial tests"
exit "$status"
