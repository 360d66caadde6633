# shellcheck shell=bash disable=SC2034   # variables read by build.sh
# rosetta-jupyter: the classic Jupyter Notebook server (notebook 6) with a Python 3 kernel.
# Sourced by build.sh; see images/README.md for the variables.
DESCRIPTION="Jupyter Notebook 6 with a Python 3 (ipykernel) kernel; token = AUTH_PASS"
PORT=8888
VARIANT=essential
PACKAGES=(tini jupyter-notebook python3-ipykernel)
IMAGE_ENV=(BASE_PORT=8888 BASE_URL=/)

customize() {
  local root=$1
  install -d -m 1777 "$root/work"      # the notebook directory, writable by any uid
}
