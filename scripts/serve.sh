#!/usr/bin/env bash
# Set up and run the platform on the embedded default: a SQLite store in $ROSETTA_HOME
# (default ~/.local/share/rosetta), this machine as the computing resource, the first container
# engine found on PATH. Installs Podman from Debian's packages first if no engine is found (root).
# Usage: sudo bash scripts/serve.sh
set -Eeuo pipefail
cd "$(dirname "$0")/.."
if ! command -v podman >/dev/null && ! command -v docker >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    TESTBED_COMPONENTS=podman TESTBED_SMOKE=0 bash testbed/setup.sh
  else
    echo "serve.sh: no container engine found; install podman (or run this script as root)" >&2
  fi
fi
bash scripts/setup-dev.sh
.venv/bin/rosetta init
exec .venv/bin/rosetta serve "$@"
