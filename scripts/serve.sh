#!/usr/bin/env bash
# Set up and run the platform on the embedded default: a SQLite store in $ROSETTA_HOME
# (default ~/.local/share/rosetta), this machine as the computing resource, the first container
# engine found on PATH, and the starter catalogue (Jupyter, a noVNC desktop, an SSH server, a web
# page), whose images are built locally from Debian's packages. Installs Podman first if no engine
# is found (root). ROSETTA_IMAGES=0 skips building the images.
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
if [ "$(id -u)" = 0 ] && [ "${ROSETTA_IMAGES:-1}" = 1 ]; then
  bash images/build.sh   # the starter catalogue's images; cached after the first build (~2 min)
fi
bash scripts/setup-dev.sh
.venv/bin/rosetta init
.venv/bin/rosetta software import images/catalogue.toml
exec .venv/bin/rosetta serve "$@"
