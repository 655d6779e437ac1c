#!/usr/bin/env bash
# Set up, seed demo data on the embedded SQLite default, and open the review app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hitl demo "$@"
