#!/usr/bin/env bash
# compare.sh: fsbench against memfs_floor (the FUSE floor) and against a target (quorumfs by default),
# each mounted under a fresh temp dir, then a table of target/floor ratios per op and proc count.
#
#   $ cmake --build build --target quorumfs memfs_floor fsbench
#   $ tools/bench/compare.sh                      # --procs "1 8" --ops 2000
#   (fsbench tables for each target and proc count, then:)
#   op      procs  floor_ops/s  quorumfs_ops/s   ratio floor_p50_us quorumfs_p50_us
#   create      1        ...             ...     ...          ...            ...
#   ...        (one row per op and proc count; ratio = quorumfs ops/s / floor ops/s)
#
# Options:
#   --build DIR          build tree holding quorumfs and tools/bench/ (default: <repo>/build)
#   --ops K | --seconds S   per worker and phase (default --ops 2000; see docs/benchmarks.md on why
#                        --ops is the fairer choice for comparisons)
#   --procs "1 8"        worker counts to run
#   --target-cmd CMD     how to start the target, run by bash with $BUILD, $DATA, $MNT set
#                        (default: "$BUILD/quorumfs" --data "$DATA" "$MNT"); it must stay in the
#                        foreground and mount $MNT when ready
#   --target-label NAME  (default: quorumfs)
#   --pin CPUS           taskset -c CPUS for both daemons and fsbench (default: no pinning)
#   --mount-timeout S    seconds to wait for a mount (default 30)
#   --out DIR            keep the JSON results and daemon logs there
#
# Whatever happens, everything this script mounted is unmounted and every daemon it started is
# stopped by PID (trap on EXIT).

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build
ops=2000
seconds=""
procs_list="1 8"
# shellcheck disable=SC2016  # expanded later by the bash that starts the target
target_cmd='"$BUILD/quorumfs" --data "$DATA" "$MNT"'
target_label=quorumfs
pin=""
mount_timeout_s=30
out=""

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --ops) ops=$2; seconds=""; shift 2 ;;
    --seconds) seconds=$2; ops=""; shift 2 ;;
    --procs) procs_list=$2; shift 2 ;;
    --target-cmd) target_cmd=$2; shift 2 ;;
    --target-label) target_label=$2; shift 2 ;;
    --pin) pin=$2; shift 2 ;;
    --mount-timeout) mount_timeout_s=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done

floor_bin=$build/tools/bench/memfs_floor
fsbench_bin=$build/tools/bench/fsbench
for bin in "$floor_bin" "$fsbench_bin"; do
  [[ -x $bin ]] || { echo "compare.sh: $bin not built" >&2; exit 1; }
done
pin_prefix=()
[[ -n $pin ]] && pin_prefix=(taskset -c "$pin")

work=$(mktemp -d /tmp/quorumfs-bench.XXXXXX)
mounts=()
pids=()  # daemons still running, by PID
fsbench_pid=""

# Stop a daemon: it should exit by itself once unmounted; TERM, then KILL, each after a bounded wait.
stop_pid() {
  local pid=$1 signal i
  for signal in NONE TERM KILL; do
    [[ $signal == NONE ]] || kill "-$signal" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
      sleep 0.1
    done
  done
  echo "compare.sh: pid $pid survived SIGKILL (stuck in the kernel?)" >&2
}

# From the mount table, not stat(): a FUSE mount whose daemon died fails stat with ENOTCONN.
is_mounted() { awk -v mnt="$1" '$2 == mnt { found = 1 } END { exit !found }' /proc/self/mounts; }

unmount() {
  local mnt=$1
  is_mounted "$mnt" || return 0
  fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" || true
}

cleanup() {
  local status=$? mnt pid busy=0
  set +e
  trap - EXIT INT TERM
  if [[ -n $fsbench_pid ]]; then
    kill -TERM "$fsbench_pid" 2>/dev/null
    wait "$fsbench_pid" 2>/dev/null
  fi
  for mnt in "${mounts[@]}"; do unmount "$mnt"; done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  for mnt in "${mounts[@]}"; do
    is_mounted "$mnt" && { echo "compare.sh: $mnt is still mounted" >&2; busy=1; }
  done
  if [[ -n $out ]]; then
    mkdir -p "$out" && cp "$work"/*.json "$work"/*.log "$out"/ 2>/dev/null
  fi
  # Never recurse into a live mount: rm would empty the mounted filesystem.
  ((busy)) || rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD: runs CMD in the background with $MNT/$DATA set and waits for the mount.
start() {
  local name=$1 cmd=$2 pid i
  local mnt=$work/$name.mnt data=$work/$name.data log=$work/$name.log
  mkdir -p "$mnt" "$data"
  mounts+=("$mnt")
  BUILD=$build DATA=$data MNT=$mnt "${pin_prefix[@]}" bash -c "exec $cmd" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for ((i = 0; i < mount_timeout_s * 10; i++)); do
    mountpoint -q "$mnt" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "compare.sh: $name exited before mounting; its log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "compare.sh: $name did not mount $mnt within ${mount_timeout_s}s; its log:" >&2
  tail -n 20 "$log" >&2
  return 1
}

# stop NAME: unmounts NAME and stops the daemon started last.
stop() {
  unmount "$work/$1.mnt"
  stop_pid "${pids[-1]}"
  unset 'pids[-1]'
}

bench() {
  local name=$1 procs mode
  if [[ -n $seconds ]]; then mode=(--seconds "$seconds"); else mode=(--ops "$ops"); fi
  for procs in $procs_list; do
    # In the background so a signal to this script runs the trap at once, not after the phase.
    "${pin_prefix[@]}" "$fsbench_bin" "$work/$name.mnt" --procs "$procs" "${mode[@]}" \
      --label "$name" --json "$work/$name-p$procs.json" &
    fsbench_pid=$!
    wait "$fsbench_pid"
    fsbench_pid=""
    echo
  done
}

# The floor on 2 vCPUs moves 2-5x with a parallel build running; say so rather than print noise.
read -r load_1m _ < /proc/loadavg
if awk -v load="$load_1m" -v cpus="$(nproc)" 'BEGIN { exit !(load > cpus / 2) }'; then
  echo "compare.sh: warning: load average $load_1m on $(nproc) CPUs; figures will be noisy" >&2
fi

# One target mounted at a time, so the two daemons never compete for the CPUs.
# shellcheck disable=SC2016
start floor '"$BUILD/tools/bench/memfs_floor" -f "$MNT"'
bench floor
stop floor

start "$target_label" "$target_cmd"
bench "$target_label"
stop "$target_label"

printf '%-7s %5s %12s %14s %7s %12s %14s\n' op procs floor_ops/s "${target_label}_ops/s" ratio \
  floor_p50_us "${target_label}_p50_us"
for procs in $procs_list; do
  for op in create set get stat delete; do
    jq -rn --arg op "$op" --argjson procs "$procs" \
      --slurpfile f "$work/floor-p$procs.json" --slurpfile t "$work/$target_label-p$procs.json" '
      ($f[0].results[$op]) as $a | ($t[0].results[$op]) as $b |
      [$op, $procs, ($a.ops_per_s | round), ($b.ops_per_s | round),
       (if $a.ops_per_s > 0 then $b.ops_per_s / $a.ops_per_s else "n/a" end),
       $a.p50_us, $b.p50_us] | @tsv'
  done
done | while IFS=$'\t' read -r op procs floor_rate target_rate ratio floor_p50 target_p50; do
  [[ $ratio == n/a ]] || ratio=$(printf '%.2f' "$ratio")
  printf '%-7s %5s %12s %14s %7s %12.1f %14.1f\n' "$op" "$procs" "$floor_rate" "$target_rate" \
    "$ratio" "$floor_p50" "$target_p50"
done
