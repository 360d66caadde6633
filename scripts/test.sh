#!/usr/bin/env bash
# Set up everything and run the whole test suite: the testbed (Podman, Docker, Slurm + munge,
# PBS-style commands, sshd on loopback; needs root), the images (Jupyter, desktop, SSH, HTTP; built
# from Debian packages, cached), the virtualenv, then ruff, mypy and pytest.
# Usage: sudo bash scripts/test.sh [pytest args...]
#   ROSETTA_TESTBED=0       skip the testbed (tests that need a missing component skip themselves)
#   ROSETTA_KEEP_TESTBED=1  leave the testbed's daemons running afterwards (default: stop them)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)

if [ "${ROSETTA_TESTBED:-1}" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the testbed needs root (run with sudo, or ROSETTA_TESTBED=0)" >&2; exit 2
  fi
  bash testbed/setup.sh
  if [ "${ROSETTA_KEEP_TESTBED:-0}" != 1 ]; then
    trap 'bash testbed/teardown.sh >/dev/null 2>&1 || true' EXIT
  fi
  bash images/build.sh
fi
bash scripts/setup-dev.sh
PY=.venv/bin

echo "== ruff" >&2
"$PY/ruff" check --no-cache .
"$PY/ruff" format --no-cache --check .
echo "== mypy --strict" >&2
packages=(rosetta_core images/smoke.py)
for init in plugins/*/rosetta_*/__init__.py; do packages+=("$(dirname "$init")"); done
"$PY/mypy" "${packages[@]}"
echo "== pytest" >&2
set +e
"$PY/pytest" -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a broken suite here, say so plainly
if [ $rc = 5 ]; then echo "test.sh: pytest collected no tests" >&2; rc=1; fi
echo "test.sh: finished in $(( $(date +%s) - t0 )) s with status $rc" >&2
exit $rc
