#!/usr/bin/env bash
# Smoke-test the built images on every engine that is up: bash images/check.sh [smoke.py args...]
# (e.g. "--engines podman http jupyter"). Uses the project's virtualenv when it has paramiko (for
# the ssh password login), else the system python3 (then sshpass is tried, else that part is skipped).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=python3
for cand in "$HERE/../.venv/bin/python" python3; do
  if "$cand" -c 'import paramiko' >/dev/null 2>&1; then PY=$cand; break; fi
done
exec "$PY" "$HERE/smoke.py" "$@"
