#!/usr/bin/env bash
# Build the platform's local images from Debian packages, with no container registry:
#   mmdebstrap (Debian bookworm) -> a rootfs folder cached under $ROSETTA_IMAGES_STATE/rootfs/<name>
#   -> Podman  localhost/rosetta-<name>:latest   (podman import of the rootfs)
#   -> Docker  localhost/rosetta-<name>:latest   (docker import of the same rootfs)
#   -> SIF     $ROSETTA_IMAGES_STATE/sif/rosetta-<name>.sif (apptainer build from the rootfs folder)
#
# Usage (as root):  bash images/build.sh [options] [name...]      (default: every images/*/recipe.sh)
#   -f, --force        rebuild even when the recipe did not change
#   -j, --jobs N       images built at the same time (default: 2; ROSETTA_IMAGES_JOBS)
#   --targets LIST     comma-separated subset of podman,docker,sif (default: all; ROSETTA_IMAGES_TARGETS)
#   --list             print the image names and exit
# Environment:
#   ROSETTA_IMAGES_STATE          cache/output root (default /var/lib/rosetta-images)
#   ROSETTA_DEBIAN_MIRROR         Debian mirror (default: the one this machine's apt sources use)
#   ROSETTA_DEBIAN_SECURITY_MIRROR  security mirror (default: from apt sources; "none" to skip)
#   ROSETTA_IMAGES_KEEP_ROOTFS=0  delete each rootfs folder once every target is built
#
# Caching: every image has a recipe hash = sha256 of BUILD_VERSION, the suite and every file in
# images/<name>/. A target whose stamp (image label rosetta.recipe, or the SIF's .recipe file) equals
# the hash is skipped; the rootfs is rebuilt only when a target needs it and its stamp differs.
# Bump BUILD_VERSION when you change how this script assembles images.
set -Eeuo pipefail
umask 022
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

BUILD_VERSION=1
SUITE=bookworm
PREFIX=rosetta-                       # image names: localhost/rosetta-<name>:latest
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${ROSETTA_IMAGES_STATE:-/var/lib/rosetta-images}
JOBS=${ROSETTA_IMAGES_JOBS:-2}
TARGETS=${ROSETTA_IMAGES_TARGETS:-podman,docker,sif}
FORCE=0
NAMES=()

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    -f|--force) FORCE=1 ;;
    -j|--jobs) JOBS=$2; shift ;;
    --jobs=*) JOBS=${1#*=} ;;
    --targets) TARGETS=$2; shift ;;
    --targets=*) TARGETS=${1#*=} ;;
    --list) for r in "$HERE"/*/recipe.sh; do basename "$(dirname "$r")"; done; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) NAMES+=("$1") ;;
  esac
  shift
done
if [ ${#NAMES[@]} = 0 ]; then
  # longest builds first: with 2 jobs the short ones fill in behind them
  for n in jupyter desktop ssh http; do [ -f "$HERE/$n/recipe.sh" ] && NAMES+=("$n"); done
  for r in "$HERE"/*/recipe.sh; do
    n=$(basename "$(dirname "$r")")
    case " ${NAMES[*]} " in *" $n "*) ;; *) NAMES+=("$n") ;; esac
  done
fi
for n in "${NAMES[@]}"; do
  [ -f "$HERE/$n/recipe.sh" ] || { echo "build.sh: no such image: $n (no $HERE/$n/recipe.sh)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: must run as root (mmdebstrap root mode, podman/docker import)" >&2; exit 2; }

T0=$(date +%s%3N)
now_ms() { date +%s%3N; }
secs() { printf '%d.%d' "$(( $1 / 1000 ))" "$(( ($1 % 1000) / 100 ))"; }
say() { printf '[images %6ss] %s\n' "$(secs $(( $(now_ms) - T0 )))" "$*"; }
want_target() { case ",$TARGETS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$STATE"/{rootfs,sif,logs,results}
chmod 755 "$STATE" "$STATE/sif"
exec 9>"$STATE/.lock"
if ! flock -n 9; then say "another build.sh holds $STATE/.lock; waiting"; flock 9; fi

# ------------------------------------------------------------------ what is available
MIRROR=${ROSETTA_DEBIAN_MIRROR:-$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)}
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
SECURITY=${ROSETTA_DEBIAN_SECURITY_MIRROR:-$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian-security\)\/\{0,1\}[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)}
[ -n "$SECURITY" ] || SECURITY=$(awk '$1 == "deb" && $2 ~ /\/debian-security\/?$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
[ "$SECURITY" = none ] && SECURITY=
[ -n "$MIRROR" ] || { echo "build.sh: no Debian mirror found in /etc/apt/sources*; set ROSETTA_DEBIAN_MIRROR" >&2; exit 2; }

HAVE_PODMAN=0 HAVE_DOCKER=0 HAVE_SIF=0
if want_target podman; then
  if ! command -v podman >/dev/null; then say "podman: skipped (podman is not installed)"
  elif ! timeout 30 podman info >/dev/null 2>&1; then say "podman: skipped (podman info fails: $(timeout 30 podman info 2>&1 | tail -n 1))"
  else HAVE_PODMAN=1; fi
else say "podman: skipped (not in --targets)"; fi
if want_target docker; then
  if ! command -v docker >/dev/null; then say "docker: skipped (docker CLI is not installed)"
  elif ! timeout 20 docker info >/dev/null 2>&1; then say "docker: skipped (the Docker engine does not answer: is dockerd running?)"
  else HAVE_DOCKER=1; fi
else say "docker: skipped (not in --targets)"; fi
APPTAINER=
if want_target sif; then
  APPTAINER=$(command -v apptainer || command -v singularity || true)
  if [ -z "$APPTAINER" ]; then say "sif: skipped (neither apptainer nor singularity is installed)"
  elif ! "$APPTAINER" version >/dev/null 2>&1; then say "sif: skipped ($APPTAINER version fails)"
  else HAVE_SIF=1; fi
else say "sif: skipped (not in --targets)"; fi
export HAVE_PODMAN HAVE_DOCKER HAVE_SIF APPTAINER

ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null && return 0
  say "installing mmdebstrap (apt-get)"
  apt-get install -y -q --no-install-recommends mmdebstrap >"$STATE/logs/apt.log" 2>&1 \
    || { apt-get update -q >>"$STATE/logs/apt.log" 2>&1 && apt-get install -y -q --no-install-recommends mmdebstrap >>"$STATE/logs/apt.log" 2>&1; } \
    || { tail -n 20 "$STATE/logs/apt.log" >&2; return 1; }
}

# ------------------------------------------------------------------ helpers
recipe_hash() { # recipe_hash NAME
  local dir="$HERE/$1"
  {
    printf 'build=%s suite=%s\n' "$BUILD_VERSION" "$SUITE"
    (cd "$dir" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z \
      | while IFS= read -r -d '' f; do
          printf '%s %s\n' "$f" "$(stat -c %a "$f")"
          if [ -L "$f" ]; then readlink "$f"; else sha256sum < "$f"; fi
        done)
  } | sha256sum | cut -c1-16
}
image_label() { # image_label ENGINE REF -> the rosetta.recipe label, or nothing
  "$1" image inspect --format '{{index .Config.Labels "rosetta.recipe"}}' "$2" 2>/dev/null || true
}
image_id() { "$1" image inspect --format '{{.Id}}' "$2" 2>/dev/null || true; }
drop_old() { # drop_old ENGINE REF OLD_ID: remove the image REF pointed to before, once untagged
  [ -n "$3" ] && [ "$(image_id "$1" "$2")" != "$3" ] || return 0
  "$1" rmi "$3" >/dev/null 2>&1 || true     # still used by a container: leave it
}

# build_rootfs NAME HASH DIR: mmdebstrap the recipe into DIR (atomically replaced)
build_rootfs() {
  local name=$1 hash=$2 dir=$3 rdir="$HERE/$1"
  local new="$dir.new"
  rm -rf "$new" "$dir.old"
  # the recipe: VARIANT PACKAGES DPKG_EXCLUDES MMDEBSTRAP_ARGS PORT IMAGE_ENV DESCRIPTION customize()
  local VARIANT=essential PACKAGES=() DPKG_EXCLUDES=() MMDEBSTRAP_ARGS=() IMAGE_ENV=() PORT='' DESCRIPTION=''
  # shellcheck disable=SC1090,SC1091
  RECIPE_DIR=$rdir source "$rdir/recipe.sh"
  local args=(--mode=root --format=directory --variant="$VARIANT" --aptopt='Acquire::Retries "3"'
    --dpkgopt=force-unsafe-io)
  case $VARIANT in essential|apt|required|minbase|important|standard)
    args+=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr) ;;
  esac
  local p
  for p in /usr/share/man/ /usr/share/doc/ /usr/share/locale/ /usr/share/info/ /usr/share/lintian/ "${DPKG_EXCLUDES[@]}"; do
    case $p in */) p="$p*" ;; esac
    args+=("--dpkgopt=path-exclude=$p")
  done
  args+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
  [ ${#PACKAGES[@]} -gt 0 ] && args+=("--include=$(IFS=,; echo "${PACKAGES[*]}")")
  args+=("${MMDEBSTRAP_ARGS[@]}")
  local sources=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main")
  [ -n "$SECURITY" ] && sources+=("deb $SECURITY $SUITE-security main")
  mmdebstrap "${args[@]}" "$SUITE" "$new" "${sources[@]}"
  # overlay: images/<name>/rootfs/ -> /
  if [ -d "$rdir/rootfs" ]; then
    cp -a --no-preserve=ownership "$rdir/rootfs/." "$new/"
  fi
  if declare -F customize >/dev/null; then customize "$new"; fi
  # apptainer: its run script and environment (not put into the OCI images)
  mkdir -p "$new/.singularity.d/env"
  cat > "$new/.singularity.d/runscript" <<'EOF'
#!/bin/sh
# tini -s: a subreaper when it is not PID 1; -g: SIGTERM goes to the whole process group
exec /usr/bin/tini -s -g -- /usr/local/bin/rosetta-entrypoint "$@"
EOF
  chmod 755 "$new/.singularity.d/runscript"
  {
    echo "export LANG=C.UTF-8"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    local kv
    for kv in "${IMAGE_ENV[@]}"; do echo "export ${kv%%=*}=\"\${${kv%%=*}:-${kv#*=}}\""; done
  } > "$new/.singularity.d/env/90-rosetta.sh"
  printf 'name=%s\nrecipe=%s\nsuite=%s\nbuilt=%s\n' "$PREFIX$name" "$hash" "$SUITE" "$(date -u +%FT%TZ)" > "$new/etc/rosetta-image"
  # sanity: every ELF program/library finds its shared libraries (guards DPKG_EXCLUDES)
  if [ -x "$new/usr/bin/ldd" ]; then
    local missing
    # shellcheck disable=SC2016  # expanded by the chroot's shell
    missing=$(chroot "$new" /bin/sh -c 'for f in /usr/bin/* /usr/sbin/* /usr/local/bin/*; do [ -f "$f" ] && [ -x "$f" ] || continue; head -c4 "$f" | grep -q ELF || continue; ldd "$f" 2>/dev/null | grep "not found" | sed "s|^|$f: |"; done' || true)
    if [ -n "$missing" ]; then echo "$missing" >&2; echo "build_rootfs: missing shared libraries in $name" >&2; return 1; fi
  fi
  echo "$hash" > "$new/.rosetta-recipe"
  [ -d "$dir" ] && mv "$dir" "$dir.old"
  mv "$new" "$dir"
  rm -rf "$dir.old"
}

# import_changes NAME HASH: --change arguments for podman/docker import
import_changes() {
  local name=$1 hash=$2 rdir="$HERE/$1"
  local PORT='' IMAGE_ENV=() DESCRIPTION='' VARIANT='' PACKAGES=() DPKG_EXCLUDES=() MMDEBSTRAP_ARGS=()
  # shellcheck disable=SC1090,SC1091
  RECIPE_DIR=$rdir source "$rdir/recipe.sh"
  CHANGES=(--change 'ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/bin/rosetta-entrypoint"]'
           --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
           --change 'ENV LANG=C.UTF-8'
           --change "LABEL rosetta.recipe=$hash"
           --change "LABEL rosetta.image=$PREFIX$name"
           --change "LABEL org.opencontainers.image.title=$PREFIX$name"
           --change "LABEL org.opencontainers.image.description=\"${DESCRIPTION//\"/\'}\"")
  local kv
  for kv in "${IMAGE_ENV[@]}"; do CHANGES+=(--change "ENV $kv"); done
  [ -n "$PORT" ] && CHANGES+=(--change "EXPOSE $PORT/tcp")
  return 0
}

tar_rootfs() { # tar_rootfs DIR -> the rootfs on stdout, without apptainer's metadata
  tar --sort=name --numeric-owner --xattrs --exclude=./.singularity.d --exclude=./.rosetta-recipe -C "$1" -cf - .
}

# build_one NAME: every wanted target of one image; results in $STATE/results/NAME
build_one() {
  local name=$1 ref="localhost/$PREFIX$1:latest" dir="$STATE/rootfs/$1"
  local res="$STATE/results/$name" t hash
  : > "$res"
  hash=$(recipe_hash "$name")
  echo "hash=$hash" >> "$res"
  local need_podman=0 need_docker=0 need_sif=0
  local sif="$STATE/sif/$PREFIX$name.sif" stamp="$STATE/sif/.$PREFIX$name.sif.recipe"
  if [ "$HAVE_PODMAN" = 1 ]; then [ $FORCE = 1 ] || [ "$(image_label podman "$ref")" != "$hash" ] && need_podman=1; fi
  if [ "$HAVE_DOCKER" = 1 ]; then [ $FORCE = 1 ] || [ "$(image_label docker "$ref")" != "$hash" ] && need_docker=1; fi
  if [ "$HAVE_SIF" = 1 ]; then [ $FORCE = 1 ] || [ ! -s "$sif" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ] && need_sif=1; fi

  if [ $((need_podman + need_docker + need_sif)) = 0 ]; then
    say "$name: up to date (recipe $hash), nothing to do"
    echo "rootfs=cached" >> "$res"
  else
    if [ $FORCE = 0 ] && [ "$(cat "$dir/.rosetta-recipe" 2>/dev/null)" = "$hash" ]; then
      say "$name: rootfs cached (recipe $hash)"
      echo "rootfs=cached" >> "$res"
    else
      say "$name: building rootfs with mmdebstrap (log: $STATE/logs/$name.log)"
      t=$(now_ms)
      # a background subshell, so that set -e really applies inside build_rootfs
      ( set -Eeuo pipefail; build_rootfs "$name" "$hash" "$dir" ) >>"$STATE/logs/$name.log" 2>&1 </dev/null &
      if ! wait $!; then
        say "$name: rootfs FAILED; last lines of $STATE/logs/$name.log:"; tail -n 15 "$STATE/logs/$name.log" | sed 's/^/    /'
        echo "status=failed" >> "$res"; return 1
      fi
      t=$(( $(now_ms) - t ))
      echo "rootfs=$(secs $t)" >> "$res"
      say "$name: rootfs built in $(secs $t) s ($(du -sh --exclude=./.singularity.d "$dir" | cut -f1))"
    fi
  fi
  echo "rootfs_size=$(du -sm "$dir" 2>/dev/null | cut -f1)" >> "$res"
  local CHANGES=()
  import_changes "$name" "$hash"
  local failed=0
  local old
  if [ $need_podman = 1 ]; then
    t=$(now_ms)
    old=$(image_id podman "$ref")
    if tar_rootfs "$dir" | podman import -q "${CHANGES[@]}" - "$ref" >>"$STATE/logs/$name.log" 2>&1; then
      drop_old podman "$ref" "$old"
      t=$(( $(now_ms) - t )); echo "podman=$(secs $t)" >> "$res"; say "$name: podman $ref imported in $(secs $t) s"
    else say "$name: podman import FAILED (see $STATE/logs/$name.log)"; echo "podman=FAILED" >> "$res"; failed=1; fi
  elif [ "$HAVE_PODMAN" = 1 ]; then echo "podman=cached" >> "$res"; fi
  if [ $need_docker = 1 ]; then
    t=$(now_ms)
    old=$(image_id docker "$ref")
    if tar_rootfs "$dir" | docker import "${CHANGES[@]}" - "$ref" >>"$STATE/logs/$name.log" 2>&1; then
      drop_old docker "$ref" "$old"
      t=$(( $(now_ms) - t )); echo "docker=$(secs $t)" >> "$res"; say "$name: docker $ref imported in $(secs $t) s"
    else say "$name: docker import FAILED (see $STATE/logs/$name.log)"; echo "docker=FAILED" >> "$res"; failed=1; fi
  elif [ "$HAVE_DOCKER" = 1 ]; then echo "docker=cached" >> "$res"; fi
  if [ $need_sif = 1 ]; then
    t=$(now_ms)
    local tmp="$STATE/sif/.tmp-$name"
    rm -rf "$tmp" "$sif.new"; mkdir -p "$tmp"
    # gzip level 6 instead of mksquashfs' default 9: jupyter's SIF took 22 s instead of 49 s on 2
    # cores, for 0.6% more bytes
    if APPTAINER_TMPDIR=$tmp "$APPTAINER" build --force --mksquashfs-args '-Xcompression-level 6' "$sif.new" "$dir" >>"$STATE/logs/$name.log" 2>&1; then
      mv -f "$sif.new" "$sif"; echo "$hash" > "$stamp"
      # the singularity plugin's sif_dir looks for <name>_<tag>.sif
      ln -sfn "$PREFIX$name.sif" "$STATE/sif/${PREFIX}${name}_latest.sif"
      t=$(( $(now_ms) - t )); echo "sif=$(secs $t)" >> "$res"; say "$name: SIF $sif built in $(secs $t) s"
    else say "$name: apptainer build FAILED (see $STATE/logs/$name.log)"; echo "sif=FAILED" >> "$res"; failed=1; rm -f "$sif.new"; fi
    rm -rf "$tmp"
  elif [ "$HAVE_SIF" = 1 ]; then echo "sif=cached" >> "$res"; fi
  if [ "${ROSETTA_IMAGES_KEEP_ROOTFS:-1}" = 0 ] && [ $failed = 0 ]; then rm -rf "$dir"; fi
  [ $failed = 0 ] && echo "status=ok" >> "$res" || echo "status=failed" >> "$res"
  return $failed
}

# ------------------------------------------------------------------ main
say "building: ${NAMES[*]} (jobs=$JOBS, suite=$SUITE, mirror=$MIRROR${SECURITY:+ + security}, state=$STATE)"
need_mm=0
for n in "${NAMES[@]}"; do
  h=$(recipe_hash "$n")
  if [ $FORCE = 1 ] || [ "$(cat "$STATE/rootfs/$n/.rosetta-recipe" 2>/dev/null)" != "$h" ]; then need_mm=1; fi
done
[ $need_mm = 1 ] && ensure_mmdebstrap
declare -A PIDS=()
for n in "${NAMES[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  ( set +e; build_one "$n" ) </dev/null &
  PIDS[$n]=$!
done
rc=0
for n in "${NAMES[@]}"; do wait "${PIDS[$n]}" || rc=1; done

# ------------------------------------------------------------------ summary
val() { sed -n "s/^$2=//p" "$STATE/results/$1" 2>/dev/null | tail -n 1; }
printf '\n%-8s %-16s %9s %9s %9s %9s %10s %10s  %s\n' image recipe rootfs/s podman/s docker/s sif/s rootfs/MB sif/MB status
for n in "${NAMES[@]}"; do
  ref="localhost/$PREFIX$n:latest"
  sifmb=-
  [ -s "$STATE/sif/$PREFIX$n.sif" ] && sifmb=$(( $(stat -c %s "$STATE/sif/$PREFIX$n.sif") / 1048576 ))
  printf '%-8s %-16s %9s %9s %9s %9s %10s %10s  %s\n' "$n" "$(val "$n" hash)" "$(val "$n" rootfs)" \
    "$(val "$n" podman || true)" "$(val "$n" docker)" "$(val "$n" sif)" "$(val "$n" rootfs_size)" "$sifmb" "$(val "$n" status)"
done
if [ "$HAVE_PODMAN" = 1 ]; then
  echo; podman images --filter "reference=localhost/$PREFIX*" --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | sed 's/^/podman  /'
fi
if [ "$HAVE_DOCKER" = 1 ]; then
  docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "localhost/$PREFIX*" 2>/dev/null | sed 's/^/docker  /'
fi
say "done in $(secs $(( $(now_ms) - T0 ))) s (status $rc)"
exit $rc
