# shellcheck shell=bash disable=SC2034   # variables read by build.sh
# rosetta-http: busybox httpd serving /www (a page containing "rosetta-http OK").
# Sourced by build.sh; see images/README.md for the variables.
DESCRIPTION="Minimal HTTP server (busybox httpd) serving a static test page"
PORT=8080
VARIANT=extract                      # no Essential set: only these packages and their dependencies
PACKAGES=(busybox-static tini)
IMAGE_ENV=(BASE_PORT=8080 BASE_URL=/)

customize() { # customize ROOTFS: runs on the host after mmdebstrap and the rootfs/ overlay
  local root=$1
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,root,proc,sys,dev,run,var/log}
  chmod 1777 "$root/tmp" 2>/dev/null || install -d -m 1777 "$root/tmp"
  chroot "$root" /bin/busybox --install -s
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
}
