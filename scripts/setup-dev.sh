#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv in .venv with the kernel, every plugin in plugins/
# and the development tools, all installed editable. Idempotent; safe to run as often as you like.
# Usage: bash scripts/setup-dev.sh        (VENV=path to use another folder)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup-dev: Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian ships venv separately
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
      rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"
    else
      echo "setup-dev: '$PYTHON -m venv' failed; install python3-venv" >&2; exit 2
    fi
  fi
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
args=(-e ".[dev]")
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && args+=(-e "$plugin")
done
# the build backend is chatty on stderr; keep its words in a log, show them when it fails
if ! "$VENV/bin/python" -m pip install -q "${args[@]}" >"$VENV/pip.log" 2>&1; then
  tail -40 "$VENV/pip.log" >&2
  echo "setup-dev: pip install failed (full log: $VENV/pip.log)" >&2
  exit 1
fi
echo "setup-dev: $VENV ready ($("$VENV/bin/python" --version); $(( ${#args[@]} / 2 )) distributions)" >&2
