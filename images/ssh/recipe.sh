# shellcheck shell=bash disable=SC2034   # variables read by build.sh
# rosetta-ssh: an OpenSSH server with one password-login user.
# Sourced by build.sh; see images/README.md for the variables.
DESCRIPTION="OpenSSH server; user AUTH_USER (default rosetta) with password AUTH_PASS"
PORT=2222
VARIANT=essential
PACKAGES=(tini openssh-server passwd)
IMAGE_ENV=(BASE_PORT=2222)

customize() {
  local root=$1
  rm -f "$root"/etc/ssh/ssh_host_*      # generated at start: never shared between containers
  rm -f "$root/etc/motd"
}
