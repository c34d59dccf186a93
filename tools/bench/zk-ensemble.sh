# zk-ensemble.sh: sourced (not run) by the benchmarks that put quorumfs next to Apache ZooKeeper 3.8
# (lock-handoff.sh, zk-clientport.sh, vs-zookeeper.sh), and by those that need only a quorumfs
# ensemble (ab-mount.sh, registry.sh). It holds what they share:
#   - the options every one of them takes (bench_parse_option) and --help (the caller's header);
#   - the packages they need (bench_packages: zookeeper, libzookeeper-mt-dev, jq, and whatever the
#     caller adds before bench_check_tools), installed when missing;
#   - a work dir (under $TMPDIR, default /tmp) and a block of 100 loopback ports, and a cleanup on
#     exit that stops, by PID, whatever was started (both ensembles, and the benchmark process in
#     bench_pid, and first whatever the caller's bench_stop_extra stops), unmounts the mounts and
#     keeps the work dir in --out (without the members' data dirs when the caller sets
#     bench_out_data=no);
#   - a 3-server ZooKeeper ensemble (zk_*) and a 3-member quorumfs ensemble (qfs_*) on 127.0.0.1,
#     every member fsyncing before it acknowledges.
#
# The caller runs `set -euo pipefail`, sets bench_name, sources this file, parses its own options
# with bench_parse_option for the common ones, then calls bench_check_tools and bench_start_work.
#
# Ports, from base_port (a random multiple of 100 in 20000-31900, below the ephemeral ports):
#   +1..3 quorumfs peer, +11..13 ZooKeeper client, +21..23 ZooKeeper quorum,
#   +31..33 ZooKeeper election, +41..43 quorumfs client (qfs_start --client-port), +51..53 quorumfs
#   election (unused by quorumfs, but a server line needs one).

bench_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$bench_repo/build
reps=3
tick_ms=200
run_timeout_s=300
out=""
bench_out_data=yes  # no: --out gets the work dir without the members' data dirs (logs, snapshots)

say() { echo "$bench_name: $*" >&2; }

# The caller's header comment (from line 2 to `set -euo`) is its --help.
bench_usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

# bench_parse_option ARGS...: takes one of the common options from the front of ARGS and sets
# bench_shift to how many words it used; any other option is an error.
#   --build DIR, --reps N, --tick-ms MS (quorumfs tickTime), --run-timeout S, --out DIR, -h
bench_parse_option() {
  bench_shift=2
  case $1 in
    --build) build=$(cd "$2" && pwd) ;;
    --reps) reps=$2 ;;
    --tick-ms) tick_ms=$2 ;;
    --run-timeout) run_timeout_s=$2 ;;
    --out) out=$2 ;;
    -h|--help) bench_usage 0 ;;
    *) say "unknown argument: $1"; bench_usage 2 ;;
  esac
}

# --- what the benchmarks need
bench_packages=(zookeeper libzookeeper-mt-dev jq)
bench_install_missing() {
  local package missing=()
  for package in "${bench_packages[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true) == installed ]] ||
      missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  ((EUID == 0)) || { say "needs ${missing[*]} (apt-get install, as root)"; exit 1; }
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q "${missing[@]}" >&2
}

# bench_build_tool TARGET...: (re)builds tools when they are missing or stale, e.g. a tool that
# needs the ZooKeeper C client after a configure that ran before libzookeeper-mt-dev was installed
# (the configure step here finds it).
bench_build_tool() {
  say "building $*"
  cmake -S "$bench_repo" -B "$build" >/dev/null
  nice -n 10 cmake --build "$build" -j1 --target "$@" >&2
}

# Installs what is missing, finds ZooKeeper's jar (sets zk_classpath), warns on a busy machine.
bench_check_tools() {
  bench_install_missing
  # Where the package's own service runs (zookeeperd, port 2181), it is left alone: ours use other ports.
  zk_classpath=/usr/share/java/zookeeper.jar  # its manifest names the jars it depends on
  [[ -f $zk_classpath ]] || { say "$zk_classpath missing (package zookeeper)"; exit 1; }
  # Without a binding slf4j drops every log line; slf4j-simple writes them to stderr (the node's log).
  [[ -f /usr/share/java/slf4j-simple.jar ]] && zk_classpath+=:/usr/share/java/slf4j-simple.jar
  local load_1m
  read -r load_1m _ </proc/loadavg
  if awk -v load="$load_1m" -v cpus="$(nproc)" 'BEGIN { exit !(load > cpus / 2) }'; then
    say "warning: load average $load_1m on $(nproc) CPUs; figures will be noisy"
  fi
}

# --- state for cleanup
declare -A member_pid=() zk_pid=()
bench_pid=""  # the benchmark process running now, if any

# stop_pid PID: TERM, then KILL, each after a bounded wait.
stop_pid() {
  local pid=$1 signal i
  for signal in TERM KILL; do
    kill "-$signal" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
      sleep 0.1
    done
  done
  say "pid $pid survived SIGKILL"
}
is_mounted() { awk -v mnt="$1" '$2 == mnt { found = 1 } END { exit !found }' /proc/self/mounts; }
# Unmounts the quorumfs members' mounts; one still busy (a member still echoing the others' last
# writes on it) is unmounted lazily.
qfs_unmount_all() {
  local id
  for id in 1 2 3; do
    is_mounted "$work/q$id/mnt" && { fusermount3 -u "$work/q$id/mnt" 2>/dev/null || fusermount3 -uz "$work/q$id/mnt"; }
  done
  return 0
}

bench_cleanup() {
  local status=$? id busy=0
  set +e
  trap - EXIT INT TERM
  if declare -F bench_stop_extra >/dev/null; then bench_stop_extra; fi  # the caller's own processes
  if [[ -n $bench_pid ]]; then stop_pid "$bench_pid"; fi
  qfs_unmount_all
  for id in "${!member_pid[@]}"; do stop_pid "${member_pid[$id]}"; done
  for id in "${!zk_pid[@]}"; do stop_pid "${zk_pid[$id]}"; done
  for id in 1 2 3; do is_mounted "$work/q$id/mnt" && { say "$work/q$id/mnt is still mounted"; busy=1; }; done
  if [[ -n $out && $bench_out_data == yes ]]; then mkdir -p "$out" && cp -r "$work"/. "$out"/; fi
  if [[ -n $out && $bench_out_data == no ]]; then
    mkdir -p "$out" && tar -C "$work" --one-file-system --exclude='./*/data' -cf - . | tar -C "$out" -xf -
  fi
  ((busy)) || rm -rf --one-file-system "$work"
  exit "$status"
}

# Makes the work dir, picks the ports, and sets the traps that clean up on any exit.
bench_start_work() {
  work=$(mktemp -d -t "quorumfs-$bench_name.XXXXXX")
  base_port=$((20000 + (RANDOM % 120) * 100))
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# bench_run TIMEOUT_S OUT ERR COMMAND...: runs a benchmark process in the background (so the
# cleanup can stop it by PID) and returns its status (124: timed out).
bench_run() {
  local timeout_s=$1 stdout=$2 stderr=$3 status=0
  shift 3
  timeout "$timeout_s" "$@" >"$stdout" 2>"$stderr" &
  bench_pid=$!
  wait "$bench_pid" || status=$?
  bench_pid=""
  return "$status"
}

# --- Apache ZooKeeper: three servers, each with its own dataDir and ports
zk_client_port() { echo $((base_port + 10 + $1)); }
zk_start() {
  local id member
  for id in 1 2 3; do
    mkdir -p "$work/zk$id/data"
    echo "$id" >"$work/zk$id/data/myid"
    {
      echo "tickTime=2000"
      echo "initLimit=10"
      echo "syncLimit=5"
      echo "dataDir=$work/zk$id/data"
      echo "clientPort=$(zk_client_port "$id")"
      echo "clientPortAddress=127.0.0.1"
      echo "forceSync=yes"  # the default, stated: every txn is fsynced before it is acknowledged
      echo "maxClientCnxns=0"
      echo "admin.enableServer=false"
      echo "4lw.commands.whitelist=srvr,ruok"
      for member in 1 2 3; do
        echo "server.$member=127.0.0.1:$((base_port + 20 + member)):$((base_port + 30 + member))"
      done
    } >"$work/zk$id/zoo.cfg"
    java -Xmx256m -cp "$zk_classpath" -Dzookeeper.log.dir="$work/zk$id" \
      -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zk$id/zoo.cfg" >"$work/zk$id/log" 2>&1 &
    zk_pid[$id]=$!
  done
}
# zk_mode ID: leader, follower, or nothing while the server is not serving.
zk_mode() {
  local reply
  reply=$(exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$(zk_client_port "$1")" && printf srvr >&3 && timeout 2 cat <&3) || true
  sed -n 's/^Mode: //p' <<<"$reply"
}
zk_wait() {
  local id deadline=$((SECONDS + 60))
  for id in 1 2 3; do
    until [[ -n $(zk_mode "$id") ]]; do
      kill -0 "${zk_pid[$id]}" 2>/dev/null || { say "ZooKeeper $id exited; its log:"; tail -n 20 "$work/zk$id/log" >&2; exit 1; }
      ((SECONDS < deadline)) || { say "ZooKeeper $id not serving within 60 s"; tail -n 20 "$work/zk$id/log" >&2; exit 1; }
      sleep 0.2
    done
  done
}
# zk_with_mode MODE: the first server in that mode (leader or follower).
zk_with_mode() {
  local id
  for id in 1 2 3; do [[ $(zk_mode "$id") == "$1" ]] && { echo "$id"; return 0; }; done
  return 0
}
zk_leader() { zk_with_mode leader; }
zk_follower() { zk_with_mode follower; }

# --- quorumfs: three members
qfs_client_port() { echo $((base_port + 40 + $1)); }
# port_open PORT: true when something accepts a TCP connection on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# qfs_start [--no-mount] [--client-port]: each member mounted at $work/qN/mnt unless --no-mount;
# with --client-port each also serves ZooKeeper clients on 127.0.0.1:$(qfs_client_port N)
# (docs/zk-protocol.md). A caller may define qfs_extra_config ID to add zoo.cfg lines.
# shellcheck disable=SC2120  # every option is optional
qfs_start() {
  local id member mount=yes client_port=no option
  for option in "$@"; do
    case $option in
      --no-mount) mount=no ;;
      --client-port) client_port=yes ;;
      *) say "qfs_start: unknown option $option"; return 1 ;;
    esac
  done
  [[ -x $build/quorumfs ]] || { say "$build/quorumfs not built"; return 1; }
  printf '%s-%s\n' "$bench_name" "$RANDOM$RANDOM" >"$work/secret"
  chmod 600 "$work/secret"
  for id in 1 2 3; do
    mkdir -p "$work/q$id/data" "$work/q$id/mnt"
    echo "$id" >"$work/q$id/data/myid"
    {
      echo "dataDir=$work/q$id/data"
      echo "peerSecretFile=$work/secret"
      echo "tickTime=$tick_ms"
      echo "initLimit=10"
      echo "syncLimit=5"
      echo "sessionTimeout=$((tick_ms * 10))"
      for member in 1 2 3; do echo "server.$member=127.0.0.1:$((base_port + member)):$((base_port + 50 + member))"; done
      if [[ $client_port == yes ]]; then
        echo "clientPort=$(qfs_client_port "$id")"
        echo "clientPortAddress=127.0.0.1"
      fi
      if declare -F qfs_extra_config >/dev/null; then qfs_extra_config "$id"; fi
    } >"$work/q$id/quorumfs.cfg"
    if [[ $mount == yes ]]; then
      "$build/quorumfs" --config "$work/q$id/quorumfs.cfg" "$work/q$id/mnt" >"$work/q$id/log" 2>&1 &
    else
      "$build/quorumfs" --config "$work/q$id/quorumfs.cfg" --no-mount >"$work/q$id/log" 2>&1 &
    fi
    member_pid[$id]=$!
  done
}
# qfs_alive ID: false (with its log's tail shown) once the member has exited.
qfs_alive() {
  kill -0 "${member_pid[$1]}" 2>/dev/null && return 0
  say "quorumfs member $1 exited; its log:"
  tail -n 20 "$work/q$1/log" >&2
  return 1
}
qfs_wait_mounted() {
  local id deadline=$((SECONDS + 30))
  for id in 1 2 3; do
    until mountpoint -q "$work/q$id/mnt"; do
      qfs_alive "$id" || exit 1
      ((SECONDS < deadline)) || { say "quorumfs member $id did not mount"; exit 1; }
      sleep 0.05
    done
  done
}
# qfs_role ID: leading, following, looking, or nothing (the member's last word on it in its log).
qfs_role() {
  grep -oE 'now (leading|following|looking)' "$work/q$1/log" 2>/dev/null | tail -n 1 | sed 's/^now //'
}
qfs_with_role() {
  local id
  for id in 1 2 3; do [[ $(qfs_role "$id") == "$1" ]] && { echo "$id"; return 0; }; done
  return 0
}
qfs_leader() { qfs_with_role leading; }
qfs_follower() { qfs_with_role following; }
