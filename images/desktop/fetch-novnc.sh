#!/bin/sh
# mmdebstrap customize hook: unpack noVNC's web client (/usr/share/novnc) from Debian's novnc .deb
# into the rootfs "$1", without installing the package and its server-side dependencies.
set -eu
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get -q -o APT::Sandbox::User=root download novnc
dpkg-deb --fsys-tarfile novnc_*.deb | tar -C "$root" -x ./usr/share/novnc ./usr/share/doc/novnc/copyright
test -f "$root/usr/share/novnc/vnc.html"
