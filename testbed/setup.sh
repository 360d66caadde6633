#!/usr/bin/env bash
# Testbed for a platform that launches containers (podman, docker, apptainer/singularity)
# locally, over SSH and through Slurm (+ PBS-style qsub wrappers), on ONE Debian 12 machine.
#
# Idempotent: run it as often as you like; it installs what is missing, starts what is not
# running, and records the PIDs of the daemons *it* started under $TB_RUN (teardown.sh uses them).
# Must run as root. Talks only to Debian's package mirror (apt) and to loopback.
#
# Usage:  sudo ./setup.sh [--check]         (--check: no installs/starts, smoke tests only)
# Knobs (environment):
#   TESTBED_COMPONENTS  default "podman rootless docker slurm slurmdbd pbs ssh apptainer registry chromium"
#                       (chromium: Debian's headless-capable browser for the web front's browser test)
#   TESTBED_OPTIONAL    components whose failure does not make the script exit 1
#                       (default "apptainer slurmdbd registry chromium")
#   TESTBED_SMOKE       1 (default) = run end-to-end smoke tests at the end
#   TESTBED_USER        unprivileged test user (default tbuser)   TESTBED_SSH_PORT (default 2222)
#   TESTBED_STATE       persistent state (default /var/lib/testbed)  TESTBED_RUN (default /run/testbed)
#   TESTBED_APPTAINER_SUITES  Debian suites tried for the apptainer .deb (default "sid testing")
# Result: $TESTBED_STATE/testbed.env (sourceable) lists images, SIFs, ssh key/config and what works.
set -Eeuo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

TB_STATE=${TESTBED_STATE:-/var/lib/testbed}
TB_RUN=${TESTBED_RUN:-/run/testbed}
TB_LOG=${TESTBED_LOG:-/var/log/testbed}
TB_USER=${TESTBED_USER:-tbuser}
TB_SSH_PORT=${TESTBED_SSH_PORT:-2222}
TB_COMPONENTS=${TESTBED_COMPONENTS:-"podman rootless docker slurm slurmdbd pbs ssh apptainer registry chromium"}
TB_OPTIONAL=${TESTBED_OPTIONAL:-"apptainer slurmdbd registry chromium"}
TB_SMOKE=${TESTBED_SMOKE:-1}
TB_APPTAINER_SUITES=${TESTBED_APPTAINER_SUITES:-"sid testing"}
# the Debian mirror this machine already uses (first URIs line of its apt sources)
TB_MIRROR=${TESTBED_DEBIAN_MIRROR:-$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)}
[ -n "$TB_MIRROR" ] || TB_MIRROR=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
IMG_BB=localhost/testbed-busybox:latest    # busybox httpd on :8080 serving /www
IMG_PY=localhost/testbed-python:latest     # python3 -m http.server 8000 serving /srv
TB_REGISTRY=127.0.0.1:5000                 # docker-registry (distribution) on loopback, plain HTTP
REG_BB=$TB_REGISTRY/testbed/busybox:latest # IMG_BB pushed into it (component registry)
RECIPE_VERSION=3                           # bump to force rebuilding rootfs/images/SIFs
CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

[ "$(id -u)" = 0 ] || { echo "setup.sh: must run as root" >&2; exit 2; }
mkdir -p "$TB_STATE" "$TB_RUN" "$TB_LOG"
chmod 755 "$TB_STATE"

T0=$(date +%s%3N)
now_ms() { date +%s%3N; }
log() { printf '[testbed %7.1fs] %s\n' "$(( $(now_ms) - T0 ))e-3" "$*" >&2; }
want() { case " $TB_COMPONENTS " in *" $1 "*) return 0;; *) return 1;; esac; }
is_optional() { case " $TB_OPTIONAL " in *" $1 "*) return 0;; *) return 1;; esac; }

declare -A STATUS=() DURATION=()
# run a step in a background subshell so that `set -e` really applies inside it
step() {
  local name=$1; shift
  local t; t=$(now_ms)
  log "== $name"
  set +e
  ( set -Eeuo pipefail; "$@" ) </dev/null &
  wait $!
  local rc=$?
  set -e
  DURATION[$name]=$(( $(now_ms) - t ))
  if [ $rc = 0 ]; then STATUS[$name]=ok; else STATUS[$name]="FAILED(rc=$rc)"; log "!! $name failed (rc=$rc)"; fi
  return 0
}
ok() { [ "${STATUS[$1]:-}" = ok ]; }

# ---------------------------------------------------------------- helpers
# pid_alive PIDFILE COMM -> true if the pid in PIDFILE is running and its comm is COMM
pid_alive() {
  local f=$1 comm=$2 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' < "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]
}
# record that WE started the daemon whose pid is in SRC_PIDFILE
record_pid() { local name=$1 src=$2; tr -dc '0-9' < "$src" > "$TB_RUN/$name.pid"; echo >> "$TB_RUN/$name.pid"; }
wait_for() { # wait_for SECONDS CMD...
  local n=$(( $1 * 5 )); shift
  local i
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# running PID: exists and is not a zombie (init here reaps orphans only every ~2 s)
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
pkg_missing() { local p; for p in "$@"; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"; done; }
hash_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }
tb_uid() { id -u "$TB_USER"; }
as_user() { local uid; uid=$(tb_uid); ( cd / && runuser -u "$TB_USER" -- env HOME="$(getent passwd "$TB_USER" | cut -d: -f6)" XDG_RUNTIME_DIR="/run/user/$uid" "$@" ); }
H=$(hostname -s)

# ---------------------------------------------------------------- 1. packages
packages() {
  local pk=(busybox-static uidmap iproute2 curl procps ca-certificates python3 python3.11 openssh-client)
  want podman && pk+=(podman runc crun conmon slirp4netns fuse-overlayfs catatonit iptables containernetworking-plugins)
  want rootless && pk+=(podman runc slirp4netns fuse-overlayfs uidmap)
  want docker && pk+=(docker.io runc iptables)
  want slurm && pk+=(slurm-wlm munge)
  want slurmdbd && pk+=(slurmdbd mariadb-server)
  want pbs && pk+=(slurm-wlm-torque)
  want ssh && pk+=(openssh-server)
  want registry && pk+=(docker-registry)
  want chromium && pk+=(chromium fonts-dejavu-core)
  want apptainer && pk+=(patchelf squashfs-tools squashfuse fuse2fs e2fsprogs containernetworking-plugins libseccomp2 libsqlite3-0 binutils)
  local missing
  missing=$(pkg_missing "${pk[@]}" | sort -u | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then log "all packages already installed"; return 0; fi
  log "installing: $missing"
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >"$TB_LOG/apt.log" 2>&1 \
    || { tail -20 "$TB_LOG/apt.log" >&2; return 1; }
}

# ---------------------------------------------------------------- 2. host tweaks, test user
host_prep() {
  # no udev here: these nodes come up 0600, rootless podman (slirp4netns) / fuse need 0666
  for d in /dev/net/tun /dev/fuse; do [ -e "$d" ] && chmod 0666 "$d"; done
  getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts
  if ! id "$TB_USER" >/dev/null 2>&1; then useradd -m -s /bin/bash "$TB_USER"; fi
  usermod -p '*' "$TB_USER"           # '!' (locked) makes sshd refuse even key logins when UsePAM=no
  grep -q "^$TB_USER:" /etc/subuid || usermod --add-subuids 200000-265535 "$TB_USER"
  grep -q "^$TB_USER:" /etc/subgid || usermod --add-subgids 200000-265535 "$TB_USER"
  getent group docker >/dev/null && usermod -aG docker "$TB_USER"
  local uid; uid=$(tb_uid)
  install -d -m 0700 -o "$TB_USER" -g "$TB_USER" "/run/user/$uid"
}

# ---------------------------------------------------------------- 3. rootfs tarballs (no registry)
build_rootfs() {
  local stamp="$TB_STATE/rootfs/.recipe"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$RECIPE_VERSION" ] \
     && [ -s "$TB_STATE/images/testbed-busybox.tar" ] && [ -s "$TB_STATE/images/testbed-python.tar" ]; then
    log "rootfs tarballs up to date"; return 0
  fi
  rm -rf "$TB_STATE/rootfs"; mkdir -p "$TB_STATE/rootfs" "$TB_STATE/images"
  local bb="$TB_STATE/rootfs/busybox" py="$TB_STATE/rootfs/python"
  # busybox-static rootfs (~2 MB): httpd, sh, wget, nc ...
  mkdir -p "$bb"/{bin,etc,www,tmp,root,srv,proc,sys,dev,var}
  cp /bin/busybox "$bb/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$bb/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$bb/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$bb/etc/group"
  echo "testbed-busybox OK" > "$bb/www/index.html"
  chmod 1777 "$bb/tmp"
  # python rootfs (~38 MB) = busybox + the host's Debian python3.11 and the shared libs it needs
  cp -a "$bb" "$py"
  rm -rf "$py/www"; echo "testbed-python OK" > "$py/srv/index.html"
  local list="$TB_STATE/rootfs/python.files"
  { dpkg -L python3.11-minimal libpython3.11-minimal libpython3.11-stdlib; echo /usr/bin/python3; } \
    | grep -vE '^/usr/share/(doc|man|lintian|binfmts)' | while read -r f; do [ -f "$f" ] && echo "$f"; done > "$list"
  ldd /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so 2>/dev/null | awk '/=>/ {print $3}' | grep '^/' \
    | sort -u | while read -r so; do echo "$so"; readlink -f "$so"; done | sed 's#^/lib/#/usr/lib/#' >> "$list"
  sort -u -o "$list" "$list"
  tar -cf - -T "$list" 2>/dev/null | tar -C "$py" -xf -
  mkdir -p "$py/usr/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$py/usr/lib64/"
  ln -sfn usr/lib "$py/lib"; ln -sfn usr/lib64 "$py/lib64"
  chroot "$py" /usr/bin/python3 -c 'import http.server, json, ssl, socket' # sanity
  local n
  for n in busybox python; do
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$TB_STATE/rootfs/$n" -cf "$TB_STATE/images/testbed-$n.tar" .
  done
  echo "$RECIPE_VERSION" > "$stamp"
  rm -f "$TB_STATE/sif/"*.sif 2>/dev/null || true
}
IMPORT_BB=(--change 'CMD ["/bin/httpd","-f","-p","8080","-h","/www"]' --change 'EXPOSE 8080' --change 'LABEL testbed=1'
           --change "LABEL testbed.recipe=$RECIPE_VERSION")
IMPORT_PY=(--change 'CMD ["/usr/bin/python3","-m","http.server","8000","--directory","/srv"]' --change 'EXPOSE 8000'
           --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV LANG=C.UTF-8' --change 'LABEL testbed=1'
           --change "LABEL testbed.recipe=$RECIPE_VERSION")
# img_current ENGINE IMAGE [runner]: image present and built from the current recipe
img_current() { [ "$(${3:-} "$1" image inspect --format '{{index .Config.Labels "testbed.recipe"}}' "$2" 2>/dev/null)" = "$RECIPE_VERSION" ]; }

# ---------------------------------------------------------------- 4. podman (rootful + rootless)
podman_conf() {
  # crun 1.8 refuses this kernel's hybrid cgroup layout (cgroup2 mount has the hugetlb controller) -> runc.
  # No CAP_SYS_RESOURCE in the bounding set: podman's default RLIMIT_NOFILE/NPROC of 1048576 cannot be set.
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576; [ "$nofile" -gt 1048576 ] && nofile=1048576
  nproc=$(ulimit -Hu);  [ "$nproc" = unlimited ] && nproc=32768;    [ "$nproc" -gt 32768 ] && nproc=32768
  local f=/etc/containers/containers.conf
  if [ -f "$f" ] && ! grep -q 'managed by testbed' "$f" && [ ! -f "$f.testbed-orig" ]; then cp "$f" "$f.testbed-orig"; fi
  mkdir -p /etc/containers
  cat > "$f.tmp" <<EOF
# managed by testbed setup.sh
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  mv "$f.tmp" "$f"
}
podman_setup() {
  podman_conf
  img_current podman "$IMG_BB" || podman import -q "${IMPORT_BB[@]}" "$TB_STATE/images/testbed-busybox.tar" "$IMG_BB" >/dev/null
  img_current podman "$IMG_PY" || podman import -q "${IMPORT_PY[@]}" "$TB_STATE/images/testbed-python.tar" "$IMG_PY" >/dev/null
  # Docker-compatible/libpod API socket (docker SDK / podman-py can use unix:///run/podman/podman.sock)
  if ! pid_alive "$TB_RUN/podman-service.pid" podman; then
    mkdir -p /run/podman; rm -f /run/podman/podman.sock
    setsid bash -c 'echo $$ > "$1"; exec podman system service --time=0 unix:///run/podman/podman.sock' _ "$TB_RUN/podman-service.pid" \
      >>"$TB_LOG/podman-service.log" 2>&1 </dev/null &
    wait_for 10 test -S /run/podman/podman.sock
  fi
}
rootless_setup() {
  local home; home=$(getent passwd "$TB_USER" | cut -d: -f6)
  install -d -o "$TB_USER" -g "$TB_USER" "$home/.config" "$home/.config/containers"
  [ -f "$home/.config/containers/storage.conf" ] || { printf '[storage]\ndriver = "overlay"\n' > "$home/.config/containers/storage.conf"; chown "$TB_USER:" "$home/.config/containers/storage.conf"; }
  local t
  for t in busybox python; do
    local img=localhost/testbed-$t:latest
    if ! img_current podman "$img" as_user; then
      local arr="IMPORT_BB[@]"; [ $t = python ] && arr="IMPORT_PY[@]"
      as_user podman import -q "${!arr}" - "$img" < "$TB_STATE/images/testbed-$t.tar" >/dev/null 2>>"$TB_LOG/rootless.log"
    fi
  done
}

# ---------------------------------------------------------------- 5. docker engine
docker_setup() {
  if ! pid_alive "$TB_RUN/dockerd.pid" dockerd; then
    if docker info >/dev/null 2>&1; then log "a dockerd not started by testbed is running; using it"; else
      # --ip=127.0.0.1: '-p 8080:80' publishes on loopback only
      setsid dockerd --pidfile="$TB_RUN/dockerd.pid" --ip=127.0.0.1 >>"$TB_LOG/dockerd.log" 2>&1 </dev/null &
      wait_for 40 docker info
    fi
  fi
  img_current docker "$IMG_BB" || docker import "${IMPORT_BB[@]}" "$TB_STATE/images/testbed-busybox.tar" "$IMG_BB" >/dev/null
  img_current docker "$IMG_PY" || docker import "${IMPORT_PY[@]}" "$TB_STATE/images/testbed-python.tar" "$IMG_PY" >/dev/null
}

# ---------------------------------------------------------------- 6. munge + mariadb + slurmdbd + slurm
munge_start() {
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then mungekey -c -k /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; fi
  if ! pid_alive /run/munge/munged.pid munged; then
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    wait_for 10 pid_alive /run/munge/munged.pid munged
    record_pid munged /run/munge/munged.pid
  fi
  munge -n | unmunge >/dev/null
}
mariadb_start() {
  install -d -o mysql -g mysql -m 0755 /run/mysqld "$TB_LOG/mariadb"
  if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
    setsid mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
      --pid-file=/run/mysqld/mysqld.pid --log-error="$TB_LOG/mariadb/mariadb.err" >/dev/null 2>&1 </dev/null &
    wait_for 30 mariadb-admin --socket=/run/mysqld/mysqld.sock ping
    record_pid mariadb /run/mysqld/mysqld.pid
  fi
  [ -s "$TB_STATE/slurmdb.pass" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$TB_STATE/slurmdb.pass"; chmod 600 "$TB_STATE/slurmdb.pass"; }
  local pw; pw=$(cat "$TB_STATE/slurmdb.pass")
  mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pw'; ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}
slurm_conf() {
  local mem; mem=$(awk '/MemTotal/ {printf "%d", $2/1024 - 1024}' /proc/meminfo)
  local cpus; cpus=$(nproc)
  local acct="AccountingStorageType=accounting_storage/none"
  want slurmdbd && acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819"
  cat > /etc/slurm/slurm.conf.tmp <<EOF
# managed by testbed setup.sh -- single node, no cgroup plugins
ClusterName=testbed
SlurmctldHost=$H(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoInAddrAny
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$TB_LOG/slurm/slurmctld.log
SlurmdLogFile=$TB_LOG/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$acct
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$H NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
  mv /etc/slurm/slurm.conf.tmp /etc/slurm/slurm.conf
  if want slurmdbd; then
    cat > /etc/slurm/slurmdbd.conf.tmp <<EOF
# managed by testbed setup.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$TB_LOG/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$(cat "$TB_STATE/slurmdb.pass")
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf.tmp; chmod 600 /etc/slurm/slurmdbd.conf.tmp
    mv /etc/slurm/slurmdbd.conf.tmp /etc/slurm/slurmdbd.conf
  fi
}
stop_ours() { # stop_ours NAME COMM  (only if WE started it)
  local f="$TB_RUN/$1.pid"
  pid_alive "$f" "$2" || { rm -f "$f"; return 0; }
  local pid; pid=$(tr -dc '0-9' < "$f")
  kill "$pid"; local i; for ((i = 0; i < 150; i++)); do running "$pid" || break; sleep 0.1; done
  rm -f "$f"
}
slurm_start() {
  install -d -o slurm -g slurm /var/spool/slurmctld /run/slurm
  install -d /var/spool/slurmd
  install -d -o slurm -g slurm "$TB_LOG/slurm"
  local before after
  before=$(hash_of /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf)
  slurm_conf
  after=$(hash_of /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf)
  if [ "$before" != "$after" ] || [ "$(cat "$TB_STATE/slurm.hash" 2>/dev/null)" != "$after" ]; then
    log "slurm config changed: restarting the slurm daemons started by testbed"
    stop_ours slurmd slurmd; stop_ours slurmctld slurmctld; stop_ours slurmdbd slurmdbd
    # daemons not started by testbed are left running: ask them to re-read the config
    if pid_alive /run/slurm/slurmctld.pid slurmctld; then scontrol reconfigure || true; fi
  fi
  if want slurmdbd && ! pid_alive /run/slurm/slurmdbd.pid slurmdbd; then
    slurmdbd; wait_for 30 tcp_open 127.0.0.1 6819; record_pid slurmdbd /run/slurm/slurmdbd.pid
  fi
  if ! pid_alive /run/slurm/slurmctld.pid slurmctld; then
    slurmctld; wait_for 30 scontrol ping; record_pid slurmctld /run/slurm/slurmctld.pid
  fi
  if ! pid_alive /run/slurm/slurmd.pid slurmd; then
    slurmd; wait_for 15 pid_alive /run/slurm/slurmd.pid slurmd; record_pid slurmd /run/slurm/slurmd.pid
  fi
  echo "$after" > "$TB_STATE/slurm.hash"
  local i st
  for ((i = 0; i < 100; i++)); do
    st=$(sinfo -h -n "$H" -o '%T' 2>/dev/null || true)
    case "$st" in idle*|mixed*|allocated*) break;; down*|drain*|fail*) scontrol update NodeName="$H" State=RESUME 2>/dev/null || true;; esac
    sleep 0.2
  done
  case "$st" in idle*|mixed*|allocated*) ;; *) echo "node state: $st" >&2; return 1;; esac
  if want slurmdbd; then sacct -n -X -S now-1minute >/dev/null; fi
}
pbs_check() { command -v qsub >/dev/null && command -v qstat >/dev/null && command -v qdel >/dev/null; }

# ---------------------------------------------------------------- 7. sshd on 127.0.0.1:2222
ssh_setup() {
  local d="$TB_STATE/ssh"
  install -d -m 0755 "$d"; install -d -m 0755 /run/sshd
  [ -s "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C testbed-host -f "$d/ssh_host_ed25519_key"
  [ -s "$d/ssh_host_rsa_key" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C testbed-host -f "$d/ssh_host_rsa_key"
  [ -s "$d/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C testbed-client -f "$d/id_ed25519"
  cp "$d/id_ed25519.pub" "$d/authorized_keys"; chmod 0644 "$d/authorized_keys"   # used for $TB_USER and root
  { echo "[127.0.0.1]:$TB_SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"
    echo "[localhost]:$TB_SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"; } > "$d/known_hosts"
  cat > "$d/ssh_config" <<EOF
Host testbed
  HostName 127.0.0.1
  Port $TB_SSH_PORT
  User $TB_USER
  IdentityFile $d/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
  cat > "$d/sshd_config.tmp" <<EOF
# managed by testbed setup.sh
Port $TB_SSH_PORT
ListenAddress 127.0.0.1
ListenAddress ::1
HostKey $d/ssh_host_ed25519_key
HostKey $d/ssh_host_rsa_key
PidFile $TB_RUN/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys $d/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
UseDNS no
AllowUsers $TB_USER root
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
  /usr/sbin/sshd -t -f "$d/sshd_config.tmp"
  local changed=0
  cmp -s "$d/sshd_config.tmp" "$d/sshd_config" || changed=1
  mv "$d/sshd_config.tmp" "$d/sshd_config"
  if pid_alive "$TB_RUN/sshd.pid" sshd; then
    if [ $changed = 1 ]; then kill -HUP "$(cat "$TB_RUN/sshd.pid")"; sleep 0.5; fi
  else
    /usr/sbin/sshd -f "$d/sshd_config" -E "$TB_LOG/sshd.log"
    wait_for 10 tcp_open 127.0.0.1 "$TB_SSH_PORT"
  fi
  ssh -F "$d/ssh_config" -n testbed true
}

# ---------------------------------------------------------------- 8. apptainer (sid .deb, repacked for bookworm)
# Debian has apptainer only in sid/testing; its binaries need glibc >= 2.38 (bookworm: 2.36).
# We fetch apptainer + libc6 from sid with an ISOLATED apt config (system apt state untouched),
# bundle sid's glibc under /usr/lib/x86_64-linux-gnu/apptainer/glibc, point the two ELF
# executables at it with patchelf, drop the libc6 dependency and install the result with apt.
apptainer_setup() {
  if ! { command -v apptainer >/dev/null && apptainer version >/dev/null 2>&1; }; then
    local w="$TB_STATE/apptainer" deb="$TB_STATE/apptainer/apptainer-testbed.deb"
    mkdir -p "$w/debs" "$w/lists/partial" "$w/cache/archives/partial"
    if [ ! -s "$deb" ]; then
      local A=(-o "Dir::Etc::SourceList=$w/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$w/lists"
               -o "Dir::Cache=$w/cache" -o Dir::State::status=/var/lib/dpkg/status -o APT::Sandbox::User=root -q)
      local suite got=0
      for suite in $TB_APPTAINER_SUITES; do
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $TB_MIRROR $suite main" > "$w/sources.list"
        rm -f "$w/debs/"*.deb
        apt-get "${A[@]}" update >/dev/null 2>&1 || continue
        (cd "$w/debs" && apt-get "${A[@]}" download apptainer libc6 >/dev/null 2>&1) || continue
        ls "$w/debs"/apptainer_*.deb "$w/debs"/libc6_*.deb >/dev/null 2>&1 && { got=1; log "apptainer from $suite: $(basename "$w/debs"/apptainer_*.deb)"; break; }
      done
      [ $got = 1 ] || { echo "no apptainer .deb in: $TB_APPTAINER_SUITES" >&2; return 1; }
      rm -rf "$w/pkg" "$w/libc"; mkdir -p "$w/libc"
      dpkg-deb -R "$w/debs"/apptainer_*.deb "$w/pkg"
      dpkg-deb -x "$w/debs"/libc6_*.deb "$w/libc"
      local GL=/usr/lib/x86_64-linux-gnu/apptainer/glibc
      mkdir -p "$w/pkg$GL"
      cp -a "$w/libc/usr/lib/x86_64-linux-gnu/"*.so* "$w/pkg$GL/"
      local b
      for b in "$w/pkg/usr/bin/apptainer" "$w/pkg/usr/lib/x86_64-linux-gnu/apptainer/bin/"*; do
        [ -f "$b" ] && [ ! -L "$b" ] && [ "$(head -c4 "$b" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || continue
        patchelf --set-interpreter "$GL/ld-linux-x86-64.so.2" "$b"
        patchelf --remove-rpath "$b"; patchelf --force-rpath --set-rpath "$GL" "$b"
      done
      # root keeps only the caps in capability.json: 'full' asks for CAP_SYS_RESOURCE, absent from our bounding set
      sed -i 's/^root default capabilities = .*/root default capabilities = file/' "$w/pkg/etc/apptainer/apptainer.conf"
      python3 - "$w/pkg/DEBIAN/control" <<'PY'
import re, sys
p = sys.argv[1]; lines = open(p).read().split("\n"); out = []
for l in lines:
    if l.startswith("Depends:"):
        deps = [d.strip() for d in l[len("Depends:"):].split(",")]
        l = "Depends: " + ", ".join(d for d in deps if not re.match(r"libc6\b", d))
    elif l.startswith("Version:"):
        l = l + "+testbed1"
    out.append(l)
open(p, "w").write("\n".join(out))
PY
      (cd "$w/pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | xargs -0 md5sum > DEBIAN/md5sums)
      dpkg-deb --root-owner-group -Zgzip -z1 -b "$w/pkg" "$deb" >/dev/null
      rm -rf "$w/pkg" "$w/libc"
    fi
    apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confnew "$deb" >>"$TB_LOG/apt.log" 2>&1 || { tail -20 "$TB_LOG/apt.log" >&2; return 1; }
  fi
  apptainer version >/dev/null
  command -v singularity >/dev/null || ln -sf apptainer /usr/bin/singularity   # spython calls `singularity`
  # --fakeroot (images whose entrypoint must be root, e.g. an SSH server) needs the calling user
  # mapped; tests call apptainer as root, and TB_USER already has a range for rootless podman
  grep -q '^root:' /etc/subuid || echo 'root:300000:65536' >> /etc/subuid
  grep -q '^root:' /etc/subgid || echo 'root:300000:65536' >> /etc/subgid
  mkdir -p "$TB_STATE/sif"
  local n
  for n in busybox python; do
    [ -s "$TB_STATE/sif/testbed-$n.sif" ] || apptainer -s build --force "$TB_STATE/sif/testbed-$n.sif" "$TB_STATE/rootfs/$n" >/dev/null
  done
  chmod 0644 "$TB_STATE/sif/"*.sif
}

# ---------------------------------------------------------------- 8b. image registry on loopback
# distribution 2.8 (Debian's docker-registry), plain HTTP on 127.0.0.1:5000 only, started by hand
# (no systemd; policy-rc.d keeps the package's own service from starting). Docker treats
# 127.0.0.0/8 registries as insecure by default; podman needs --tls-verify=false.
registry_setup() {
  local d="$TB_STATE/registry"
  mkdir -p "$d/data"
  cat > "$d/config.yml.tmp" <<EOF
# managed by testbed setup.sh
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: $TB_REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  if ! cmp -s "$d/config.yml.tmp" "$d/config.yml" && pid_alive "$TB_RUN/registry.pid" docker-registry; then
    local old; old=$(tr -dc '0-9' < "$TB_RUN/registry.pid")   # ours, running an older config: restart it
    kill -TERM "$old"
    local i; for ((i = 0; i < 50; i++)); do running "$old" || break; sleep 0.2; done
    running "$old" && { echo "registry (pid $old) did not stop" >&2; return 1; }
    rm -f "$TB_RUN/registry.pid"   # (a zombie keeps its comm until init reaps it)
  fi
  mv "$d/config.yml.tmp" "$d/config.yml"
  if ! pid_alive "$TB_RUN/registry.pid" docker-registry; then
    if tcp_open 127.0.0.1 "${TB_REGISTRY##*:}"; then
      echo "something not started by testbed listens on $TB_REGISTRY" >&2; return 1
    fi
    setsid bash -c 'echo $$ > "$1"; exec /usr/bin/docker-registry serve "$2"' _ "$TB_RUN/registry.pid" "$d/config.yml" \
      >>"$TB_LOG/registry.log" 2>&1 </dev/null &
    wait_for 15 curl -fsS -m 2 -o /dev/null "http://$TB_REGISTRY/v2/"
  fi
  curl -fsS -m 5 -o /dev/null "http://$TB_REGISTRY/v2/"
  # push IMG_BB unless the registry already holds this very image (stamp = the local image id)
  local id stamp="$d/pushed-busybox"
  id=$(podman image inspect --format '{{.Id}}' "$IMG_BB")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$id" ] \
     || ! curl -fsS -m 5 -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
          -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
          "http://$TB_REGISTRY/v2/testbed/busybox/manifests/latest"; then
    podman push -q --tls-verify=false "$IMG_BB" "$REG_BB" >>"$TB_LOG/registry.log" 2>&1 \
      || { tail -5 "$TB_LOG/registry.log" >&2; return 1; }
    echo "$id" > "$stamp"
  fi
}

# ---------------------------------------------------------------- 8c. headless browser
# Debian's chromium (installed with the packages above), driven by the web front's browser test
# through Playwright with executable_path=/usr/bin/chromium: no browser is ever downloaded.
chromium_setup() {
  [ -x /usr/bin/chromium ] || { echo "chromium is installed but /usr/bin/chromium is missing" >&2; return 1; }
  /usr/bin/chromium --version >/dev/null
}

# ---------------------------------------------------------------- 9. smoke tests
# docker-proxy accepts before the server in the container listens ('Empty reply'): retry by hand
http_get() { local i; for ((i = 0; i < 50; i++)); do curl -fsS -m 3 "$1" 2>/dev/null && return 0; sleep 0.2; done; curl -fsS -m 3 "$1"; }
smoke_podman() {
  local n=testbed-smoke-podman
  podman rm -f -t 0 $n >/dev/null 2>&1 || true
  podman run -d --pull=never --name $n -p 127.0.0.1::8080 "$IMG_BB" >/dev/null
  local port; port=$(podman port $n 8080/tcp | head -1 | sed 's/.*://')
  local body; body=$(http_get "http://127.0.0.1:$port/") || true
  podman rm -f -t 0 $n >/dev/null; [[ $body == *'testbed-busybox OK'* ]]
}
smoke_rootless() {
  local n=testbed-smoke-rootless
  as_user podman rm -f -t 0 $n >/dev/null 2>&1 || true
  as_user podman run -d --pull=never --name $n -p 127.0.0.1::8000 "$IMG_PY" >/dev/null 2>>"$TB_LOG/rootless.log"
  local port; port=$(as_user podman port $n 8000/tcp 2>/dev/null | head -1 | sed 's/.*://')
  local body; body=$(http_get "http://127.0.0.1:$port/") || true
  as_user podman rm -f -t 0 $n >/dev/null 2>&1; [[ $body == *'testbed-python OK'* ]]
}
smoke_docker() {
  local n=testbed-smoke-docker
  docker rm -f $n >/dev/null 2>&1 || true
  docker run -d --pull=never --name $n -p 127.0.0.1::8000 "$IMG_PY" >/dev/null
  local port; port=$(docker port $n 8000/tcp | head -1 | sed 's/.*://')
  local body; body=$(http_get "http://127.0.0.1:$port/") || true
  docker rm -f $n >/dev/null; [[ $body == *'testbed-python OK'* ]]
}
smoke_apptainer() {
  # (no `| grep -q` under pipefail: grep exiting early SIGPIPEs the writer -> rc 141)
  [[ $(apptainer exec "$TB_STATE/sif/testbed-busybox.sif" cat /www/index.html) == *'testbed-busybox OK'* ]]
  [[ $(as_user apptainer exec "$TB_STATE/sif/testbed-python.sif" /usr/bin/python3 -c 'print("py-ok")' 2>/dev/null) == py-ok ]]
  [[ $(apptainer exec --fakeroot "$TB_STATE/sif/testbed-busybox.sif" id -u 2>/dev/null) == 0 ]]
}
smoke_registry() {
  [[ $(curl -fsS -m 5 "http://$TB_REGISTRY/v2/_catalog") == *'"testbed/busybox"'* ]]
}
smoke_chromium() {
  # render a data: page headless and read the DOM back (no network, a throwaway profile)
  local profile; profile=$(mktemp -d /tmp/testbed-chromium.XXXXXX)
  local out rc=0
  out=$(timeout 60 /usr/bin/chromium --headless=new --no-sandbox --disable-gpu --disable-background-networking \
          --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
          --dump-dom 'data:text/html,<title>t</title><p id=x>chromium-ok</p>' 2>>"$TB_LOG/chromium.log") || rc=1
  rm -rf "$profile"
  [ $rc = 0 ] && [[ $out == *'chromium-ok'* ]]
}
smoke_slurm() {
  local out; out=$(mktemp /tmp/testbed-smoke.XXXXXX); chmod 666 "$out"
  # (sbatch --wait polls with growing sleeps: up to 10 s for a 0.1 s job; poll scontrol instead)
  local id st i; id=$(sbatch --parsable -o "$out" -J testbed-smoke --wrap 'echo slurm-ok on $(hostname)')
  for ((i = 0; i < 300; i++)); do
    st=$(scontrol show job -o "$id" 2>/dev/null | head -1 | grep -o 'JobState=[A-Z_]*' || true)
    case "$st" in JobState=COMPLETED|JobState=FAILED|JobState=CANCELLED|JobState=TIMEOUT|JobState=NODE_FAIL) break;; esac
    sleep 0.1
  done
  local rc=0; grep -q slurm-ok "$out" || rc=1; rm -f "$out"; return $rc
}
smoke_pbs() {
  local dir; dir=$(mktemp -d /tmp/testbed-pbs.XXXXXX)
  printf '#!/bin/bash\n#PBS -N testbed-pbs\n#PBS -l walltime=00:01:00\n#PBS -l nodes=1:ppn=1\necho pbs-ok\n' > "$dir/job.sh"
  local id; id=$(cd "$dir" && qsub -o "$dir/out" -j oe job.sh)
  local i; for ((i = 0; i < 100; i++)); do grep -q pbs-ok "$dir/out" 2>/dev/null && break; sleep 0.2; done
  local rc=0; qstat "$id" >/dev/null || rc=1; grep -q pbs-ok "$dir/out" || rc=1; rm -rf "$dir"; return $rc
}
smoke_ssh() {
  [[ $(ssh -F "$TB_STATE/ssh/ssh_config" -n testbed 'id -un') == "$TB_USER" ]]
}

# ---------------------------------------------------------------- env file
write_env() {
  local okc="" bad="" c
  for c in $TB_COMPONENTS; do
    if [ "${STATUS[$c]:-}" = ok ] && { [ "$TB_SMOKE" != 1 ] || [ "${STATUS[smoke-$c]:-ok}" = ok ]; }; then okc+="$c "; else bad+="$c "; fi
  done
  cat > "$TB_STATE/testbed.env.tmp" <<EOF
# generated by testbed setup.sh on $(date -u +%FT%TZ)
TESTBED_STATE=$TB_STATE
TESTBED_OK="${okc% }"
TESTBED_FAILED="${bad% }"
TESTBED_IMAGE_BUSYBOX=$IMG_BB
TESTBED_IMAGE_PYTHON=$IMG_PY
TESTBED_ROOTFS_TAR_BUSYBOX=$TB_STATE/images/testbed-busybox.tar
TESTBED_ROOTFS_TAR_PYTHON=$TB_STATE/images/testbed-python.tar
TESTBED_SIF_BUSYBOX=$TB_STATE/sif/testbed-busybox.sif
TESTBED_SIF_PYTHON=$TB_STATE/sif/testbed-python.sif
TESTBED_DOCKER_HOST=unix:///var/run/docker.sock
TESTBED_PODMAN_SOCKET=unix:///run/podman/podman.sock
TESTBED_USER=$TB_USER
TESTBED_SSH_HOST=127.0.0.1
TESTBED_SSH_PORT=$TB_SSH_PORT
TESTBED_SSH_KEY=$TB_STATE/ssh/id_ed25519
TESTBED_SSH_KNOWN_HOSTS=$TB_STATE/ssh/known_hosts
TESTBED_SSH_CONFIG=$TB_STATE/ssh/ssh_config
TESTBED_SLURM_PARTITION=debug
EOF
  if [[ " $okc " == *" chromium "* ]]; then
    echo "TESTBED_CHROMIUM=/usr/bin/chromium" >> "$TB_STATE/testbed.env.tmp"
  fi
  if [[ " $okc " == *" registry "* ]]; then
    printf 'TESTBED_REGISTRY=%s\nTESTBED_REGISTRY_IMAGE_BUSYBOX=%s\n' "$TB_REGISTRY" "$REG_BB" >> "$TB_STATE/testbed.env.tmp"
  fi
  mv "$TB_STATE/testbed.env.tmp" "$TB_STATE/testbed.env"
}

# ---------------------------------------------------------------- main
if [ $CHECK_ONLY = 0 ]; then
  step packages packages
  ok packages || { log "package installation failed; giving up"; exit 1; }
  step host_prep host_prep
  step rootfs build_rootfs
  want podman   && step podman podman_setup
  want rootless && step rootless rootless_setup
  want docker   && step docker docker_setup
  if want slurm; then
    step munge munge_start
    want slurmdbd && { ok munge && step mariadb mariadb_start || true; }
    step slurm slurm_start
    want slurmdbd && { ok slurm && ok mariadb && STATUS[slurmdbd]=ok || STATUS[slurmdbd]=FAILED; }
  fi
  want pbs && step pbs pbs_check
  want ssh && step ssh ssh_setup
  want apptainer && step apptainer apptainer_setup
  if want registry; then # needs podman (to push the image)
    if want podman && ok podman; then step registry registry_setup; else STATUS[registry]="FAILED(no podman)"; fi
  fi
  want chromium && step chromium chromium_setup
else
  for c in $TB_COMPONENTS; do STATUS[$c]=ok; done
  [ -d /run/user/"$(tb_uid)" ] || install -d -m 0700 -o "$TB_USER" -g "$TB_USER" "/run/user/$(tb_uid)"
fi

if [ "$TB_SMOKE" = 1 ]; then
  for c in podman rootless docker apptainer slurm pbs ssh registry chromium; do
    want $c && ok $c && step smoke-$c smoke_$c
  done
  want slurmdbd && ok slurmdbd && step smoke-slurmdbd bash -c '[[ $(sacct -n -X -S now-10minutes --name=testbed-smoke -o State) == *COMPLETED* ]]'
fi
write_env

rc=0
echo "---------------- testbed summary ($(( ($(now_ms) - T0) / 1000 ))s total) ----------------" >&2
for k in packages host_prep rootfs podman rootless docker munge mariadb slurm slurmdbd pbs ssh apptainer registry \
         chromium smoke-podman smoke-rootless smoke-docker smoke-apptainer smoke-slurm smoke-slurmdbd smoke-pbs \
         smoke-ssh smoke-registry smoke-chromium; do
  [ -n "${STATUS[$k]:-}" ] || continue
  printf '  %-16s %-14s %6sms\n' "$k" "${STATUS[$k]}" "${DURATION[$k]:-0}" >&2
  if [ "${STATUS[$k]}" != ok ]; then
    c=${k#smoke-}; is_optional "$c" || rc=1
  fi
done
echo "  env file: $TB_STATE/testbed.env" >&2
grep -E '^TESTBED_(OK|FAILED)=' "$TB_STATE/testbed.env" | sed 's/^/  /' >&2
exit $rc
