# shellcheck shell=bash disable=SC2034   # variables read by build.sh
# rosetta-desktop: an X desktop viewable in a browser.
#   Xvfb (X server) + twm (window manager) + xterm, xcalc, xclock (x11-apps)
#   x11vnc (VNC server on the X display) <- websockify (WebSocket -> VNC) + noVNC (HTML5 VNC client)
# Sourced by build.sh; see images/README.md for the variables.
DESCRIPTION="X desktop (Xvfb, twm, xterm, xcalc) in the browser through noVNC + websockify; VNC password = AUTH_PASS"
PORT=8590
VARIANT=essential
PACKAGES=(tini xvfb x11vnc twm xterm x11-apps websockify)
IMAGE_ENV=(BASE_PORT=8590 BASE_URL=/ GEOMETRY=1280x800)
L="/usr/lib/*-linux-gnu"             # any architecture (dpkg matches it as a glob)
# Xvfb and x11vnc hard-depend on libgl1 -> Mesa's DRI drivers -> LLVM (+ libz3, libxml2, libicu):
# ~200 MB that software rendering on a virtual framebuffer never loads (Xvfb runs with -extension GLX).
# dpkg keeps the packages registered but does not unpack these files; build.sh then checks with ldd
# that no installed program misses a library.
DPKG_EXCLUDES=("$L/dri/" "$L/libLLVM-15.so*" "$L/libz3.so*" "$L/libxml2.so*" "$L/libicu*")
# noVNC: Debian's "novnc" package drags in nodejs and OpenStack's oslo.config (for the nova proxy);
# the browser client is static files, taken from the same .deb by a hook.
MMDEBSTRAP_ARGS=("--customize-hook=sh $(printf %q "$RECIPE_DIR/fetch-novnc.sh") \"\$1\"")

customize() {
  local root=$1
  install -d -m 1777 "$root/tmp/.X11-unix"   # so that an X server run by any uid can use it
}
