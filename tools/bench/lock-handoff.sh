#!/usr/bin/env bash
# lock-handoff.sh: how fast an exclusive lock passes between three processes, quorumfs's flock
# against Apache ZooKeeper 3.8's lock recipe, both as 3-member ensembles on 127.0.0.1 with every
# member fsyncing its log.
#
#   $ cmake --build build --target quorumfs lockbench
#   $ tools/bench/lock-handoff.sh                 # --reps 3 --iterations 200
#   ensembles up: quorumfs leader 2, ZooKeeper leader 3
#   warm-up: quorumfs     lockbench flock label=quorumfs contenders=3 iterations=200: ...
#   ...
#   rep 1:  quorumfs     lockbench flock label=quorumfs contenders=3 iterations=200: ...
#   rep 1:  zookeeper    lockbench zk label=zookeeper contenders=3 iterations=200: ...
#   ...
#   target   runs  handoffs/s med (min-max)  p50 ms med (min-max)  p99 ms ...  self-reacq  overlaps
#   ...      (one row per target)
#   quorumfs/zookeeper (of the medians): handoffs/s x..., p50 x..., p99 x...
#
# Each repetition runs, one after the other (never at the same time):
#   quorumfs     lockbench flock, one contender per member, each on MOUNT_i/locks/L (one file);
#   zookeeper    lockbench zk, one contender per ZooKeeper server (a session on each), lock /locks/L;
#   local-flock  lockbench flock, three contenders on one file in the local /tmp: the host's floor,
#                and a control that the overlap check reads 0 when the lock does exclude.
# Failed runs are shown and left out of the summary. Ratios are of the medians (quorumfs /
# ZooKeeper; above 1 is better for handoffs/s, below 1 for latency). A run with overlaps > 0 did
# not get mutual exclusion: its figures say nothing about a lock, so no ratio is printed then.
#
# Options:
#   --build DIR        build tree with quorumfs and tools/bench/lockbench (default: <repo>/build)
#   --reps N           repetitions (default 3)
#   --iterations K     acquisitions per contender and run (default 200)
#   --warmup K         one run of each target with K iterations first, not counted (default 200;
#                      0: none)
#   --hold-us U        time each holder keeps the lock (default 100; the overlap check needs a
#                      critical section that lasts, see lockbench.cc)
#   --tick-ms MS       quorumfs tickTime (default 200, as tools/bench/ensemble.sh)
#   --run-timeout S    stop a lockbench run after S seconds (default 300)
#   --out DIR          keep the JSON lines, configs and logs there
#
# Needs the Debian packages zookeeper (the server, run from /usr/share/java/zookeeper.jar) and
# libzookeeper-mt-dev (the C client lockbench links); installs them when missing (as root), and
# rebuilds lockbench if it was configured without the client. Everything it starts is stopped by
# PID and every mount unmounted on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build
reps=3
iterations=200
warmup=200
hold_us=100
tick_ms=200
run_timeout_s=300
out=""
usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --hold-us) hold_us=$2; shift 2 ;;
    --tick-ms) tick_ms=$2; shift 2 ;;
    --run-timeout) run_timeout_s=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "lock-handoff.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done

say() { echo "lock-handoff.sh: $*" >&2; }

# --- what it needs
install_missing() {
  local package missing=()
  for package in zookeeper libzookeeper-mt-dev; do
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
install_missing
# Where the package's own service runs (zookeeperd, port 2181), it is left alone: ours use other ports.

quorumfs=$build/quorumfs
lockbench=$build/tools/bench/lockbench
[[ -x $quorumfs ]] || { say "$quorumfs not built"; exit 1; }
if [[ ! -x $lockbench ]] || ! "$lockbench" --help | grep -q 'zk mode: built'; then
  say "building lockbench with the ZooKeeper client"
  cmake -S "$repo" -B "$build" >/dev/null
  nice -n 10 cmake --build "$build" -j1 --target lockbench >&2
  "$lockbench" --help | grep -q 'zk mode: built' || { say "lockbench still has no zk mode"; exit 1; }
fi
zk_classpath=/usr/share/java/zookeeper.jar  # its manifest names the jars it depends on
[[ -f $zk_classpath ]] || { say "$zk_classpath missing (package zookeeper)"; exit 1; }
# Without a binding slf4j drops every log line; slf4j-simple writes them to stderr (the node's log).
[[ -f /usr/share/java/slf4j-simple.jar ]] && zk_classpath+=:/usr/share/java/slf4j-simple.jar

read -r load_1m _ </proc/loadavg
if awk -v load="$load_1m" -v cpus="$(nproc)" 'BEGIN { exit !(load > cpus / 2) }'; then
  say "warning: load average $load_1m on $(nproc) CPUs; figures will be noisy"
fi

# --- state for cleanup
work=$(mktemp -d /tmp/quorumfs-lock-handoff.XXXXXX)
base_port=$((20000 + (RANDOM % 120) * 100))  # below the ephemeral ports (32768+)
declare -A member_pid=() zk_pid=()
lockbench_pid=""

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

cleanup() {
  local status=$? id busy=0
  set +e
  trap - EXIT INT TERM
  if [[ -n $lockbench_pid ]]; then stop_pid "$lockbench_pid"; fi
  for id in 1 2 3; do
    is_mounted "$work/q$id/mnt" && { fusermount3 -u "$work/q$id/mnt" 2>/dev/null || fusermount3 -uz "$work/q$id/mnt"; }
  done
  for id in "${!member_pid[@]}"; do stop_pid "${member_pid[$id]}"; done
  for id in "${!zk_pid[@]}"; do stop_pid "${zk_pid[$id]}"; done
  for id in 1 2 3; do is_mounted "$work/q$id/mnt" && { say "$work/q$id/mnt is still mounted"; busy=1; }; done
  if [[ -n $out ]]; then mkdir -p "$out" && cp -r "$work"/. "$out"/; fi
  ((busy)) || rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Apache ZooKeeper: three servers, each with its own dataDir and ports
zk_client_port() { echo $((base_port + 10 + $1)); }
start_zookeeper() {
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
wait_zookeeper() {
  local id deadline=$((SECONDS + 60))
  for id in 1 2 3; do
    until [[ -n $(zk_mode "$id") ]]; do
      kill -0 "${zk_pid[$id]}" 2>/dev/null || { say "ZooKeeper $id exited; its log:"; tail -n 20 "$work/zk$id/log" >&2; exit 1; }
      ((SECONDS < deadline)) || { say "ZooKeeper $id not serving within 60 s"; tail -n 20 "$work/zk$id/log" >&2; exit 1; }
      sleep 0.2
    done
  done
}
zk_leader() {
  local id
  for id in 1 2 3; do [[ $(zk_mode "$id") == leader ]] && echo "$id"; done
  return 0
}

# --- quorumfs: three members, each mounted (as tools/bench/ensemble.sh)
start_quorumfs() {
  local id member
  printf 'lock-handoff-%s\n' "$RANDOM$RANDOM" >"$work/secret"
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
    } >"$work/q$id/quorumfs.cfg"
    "$quorumfs" --config "$work/q$id/quorumfs.cfg" "$work/q$id/mnt" >"$work/q$id/log" 2>&1 &
    member_pid[$id]=$!
  done
}
wait_quorumfs() {
  local id deadline=$((SECONDS + 30))
  for id in 1 2 3; do
    until mountpoint -q "$work/q$id/mnt"; do
      kill -0 "${member_pid[$id]}" 2>/dev/null || { say "quorumfs member $id exited; its log:"; tail -n 20 "$work/q$id/log" >&2; exit 1; }
      ((SECONDS < deadline)) || { say "quorumfs member $id did not mount"; exit 1; }
      sleep 0.05
    done
  done
  until mkdir -p "$work/q1/mnt/locks" 2>/dev/null && printf '' 2>/dev/null >"$work/q1/mnt/locks/L"; do
    ((SECONDS < deadline)) || { say "no quorum through member 1"; exit 1; }
    sleep 0.05
  done
  # The lock file must exist everywhere before the contenders open it with O_CREAT.
  for id in 2 3; do
    until sync "$work/q$id/mnt/locks" 2>/dev/null && [[ -e $work/q$id/mnt/locks/L ]]; do
      ((SECONDS < deadline)) || { say "member $id does not see locks/L"; exit 1; }
      sleep 0.05
    done
  done
}
quorumfs_leader() {
  local id
  for id in 1 2 3; do
    [[ $(grep -E 'now (leading|following|looking)' "$work/q$id/log" | tail -n 1) == *"now leading"* ]] && echo "$id"
  done
  return 0
}

# --- runs
results=$work/results.jsonl
# bench RUN LABEL MODE TARGET...: one lockbench run of --iterations (of --warmup when RUN is
# warm-up, whose JSON line is not kept); its human line is shown, its JSON line kept.
bench() {
  local run=$1 label=$2 mode=$3 status=0 count=$iterations json=$results
  shift 3
  [[ $run == warm-up ]] && { count=$warmup; json=$work/warmup.jsonl; }
  timeout "$run_timeout_s" "$lockbench" "$mode" "$@" --iterations "$count" --hold-us "$hold_us" \
    --label "$label" --json "$json" >"$work/run.out" 2>"$work/run.err" &
  lockbench_pid=$!
  wait "$lockbench_pid" || status=$?
  lockbench_pid=""
  printf '%-7s %-12s %s\n' "$run:" "$label" "$(grep -v '^{' "$work/run.out" || true)"
  if ((status != 0)); then
    say "$label: lockbench exited $status:"
    cat "$work/run.err" >&2
    if ((status == 124)); then say "$label: timed out after ${run_timeout_s}s"; fi
  fi
}

start_zookeeper
start_quorumfs
wait_zookeeper
wait_quorumfs
echo "ensembles up: quorumfs leader $(quorumfs_leader), ZooKeeper leader $(zk_leader)"

mkdir -p "$work/local"
local_lock=$work/local/L
# run_all RUN: one run of each target, one after the other.
run_all() {
  bench "$1" quorumfs flock "$work/q1/mnt/locks/L" "$work/q2/mnt/locks/L" "$work/q3/mnt/locks/L"
  bench "$1" zookeeper zk --lock /locks/L \
    "127.0.0.1:$(zk_client_port 1)" "127.0.0.1:$(zk_client_port 2)" "127.0.0.1:$(zk_client_port 3)"
  bench "$1" local-flock flock "$local_lock" "$local_lock" "$local_lock"
}
# ZooKeeper's JVM warms up over the first thousand or so requests: four 30-iteration runs straight
# after a start gave p50 9.5, 6.6, 4.9, 3.6 ms; once, the first run stalled 18 s and lost a session.
((warmup > 0)) && run_all warm-up
for ((rep = 1; rep <= reps; rep++)); do run_all "rep $rep"; done

# --- summary: medians with min-max over the repetitions
echo
[[ -s $results ]] || { say "no run produced a result"; exit 1; }
printf '%-12s %4s  %-26s %-22s %-22s %-9s %s\n' target runs 'handoffs/s med (min-max)' \
  'p50 ms med (min-max)' 'p99 ms med (min-max)' 'self-reacq' 'overlaps (by time)'
jq -rs '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stat(f; digits): [.[] | f] | pow(10; digits) as $scale |
    [median, min, max] | map(. * $scale | round / $scale | tostring) | "\(.[0]) (\(.[1])-\(.[2]))";
  group_by(.label)[] | ([.[] | select(.ok | not)] | length) as $failed | map(select(.ok)) |
  select(length > 0) |
  [.[0].label, length, stat(.handoffs_per_s; 1), stat(.handoff_latency_ms_p50; 2),
   stat(.handoff_latency_ms_p99; 2), ([.[] | .self_reacquires] | add), ([.[] | .overlaps] | add),
   ([.[] | .overlaps_by_time] | add), $failed] | @tsv' "$results" |
  while IFS=$'\t' read -r label runs rate p50 p99 self_reacquires overlaps overlaps_by_time failed; do
    note=""
    ((failed == 0)) || note+="  ($failed failed runs left out)"
    printf '%-12s %4s  %-26s %-22s %-22s %-9s %s (%s)%s\n' "$label" "$runs" "$rate" "$p50" "$p99" \
      "$self_reacquires" "$overlaps" "$overlaps_by_time" "$note"
  done
echo
jq -rs '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def of(name; f): [.[] | select(.label == name and .ok) | f] | median;
  def ratio(f): if (of("zookeeper"; f) // 0) != 0 and of("quorumfs"; f) != null
                then of("quorumfs"; f) / of("zookeeper"; f) * 100 | round / 100 else "n/a" end;
  ([.[] | select(.label == "quorumfs") | [.overlaps, .overlaps_by_time] | max] | add // 0) as $overlaps |
  if $overlaps > 0 then
    "quorumfs/zookeeper: not computed: quorumfs had \($overlaps) overlaps, its flock did not exclude across the mounts, so its figures above are not those of a lock"
  else
    "quorumfs/zookeeper (of the medians): handoffs/s x\(ratio(.handoffs_per_s)), p50 x\(ratio(.handoff_latency_ms_p50)), p99 x\(ratio(.handoff_latency_ms_p99))"
  end' "$results"
