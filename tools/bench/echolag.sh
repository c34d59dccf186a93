#!/usr/bin/env bash
# echolag.sh: the echo's window on a 3-member quorumfs ensemble on 127.0.0.1 (docs/benchmarks.md,
# "Echo lag"; docs/mount.md, "Watches"):
#   1. lag: 1 and 8 writer processes create files in one directory through member 2 for
#      --seconds; a watcher on member 1 times each IN_CREATE from the apply on member 1 (its
#      "echo step N queued" debug line, steady clock) and from the writer's close();
#   2. overtake: --trials times, x is created through member 2 and, as soon as a process on
#      member 1 can stat it, y is created through member 1 in the same directory; counts the
#      trials where member 1's watcher sees y before x. Run idle and with --load-writers writer
#      processes creating files in another directory through member 2.
#
#   $ cmake --build build --target quorumfs echolag
#   $ tools/bench/echolag.sh                     # --seconds 5 --trials 300 --writers "1 8"
#
# Options: --build DIR, --seconds S, --writers "1 8", --trials N, --load-writers N (default 4),
#          --out DIR (keep logs). Member 1 runs with --log-level debug.
# Everything started is stopped by PID and unmounted on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build
seconds=5
writers_list="1 8"
trials=300
load_writers=4
out=""
usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --writers) writers_list=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --load-writers) load_writers=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "echolag.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done

quorumfs=$build/quorumfs
echolag=$build/tools/bench/echolag
work=$(mktemp -d /tmp/quorumfs-echolag.XXXXXX)
base_port=$((20000 + (RANDOM % 120) * 100))  # below the ephemeral ports (32768+)
declare -A pid_of=()
load_pids=()

cleanup() {
  local pid name
  for pid in "${load_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for name in "${!pid_of[@]}"; do kill -KILL "${pid_of[$name]}" 2>/dev/null || true; done
  for name in 1 2 3; do fusermount3 -u -z "$work/$name/mnt" 2>/dev/null || true; done
  if [[ -n $out ]]; then mkdir -p "$out" && cp -r "$work"/. "$out"/; fi
  rm -rf "$work"
}
trap cleanup EXIT

printf 'bench-%s\n' "$RANDOM$RANDOM" >"$work/secret"
for id in 1 2 3; do
  mkdir -p "$work/$id/data" "$work/$id/mnt"
  echo "$id" >"$work/$id/data/myid"
  {
    echo "dataDir=$work/$id/data"
    echo "peerSecretFile=$work/secret"
    echo "tickTime=200"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "sessionTimeout=2000"
    for member in 1 2 3; do echo "server.$member=127.0.0.1:$((base_port + member)):$((base_port + 50 + member))"; done
  } >"$work/$id.cfg"
done
for id in 1 2 3; do
  level=info
  [[ $id == 1 ]] && level=debug
  "$quorumfs" --config "$work/$id.cfg" --log-level "$level" "$work/$id/mnt" >>"$work/$id/log" 2>&1 &
  pid_of[$id]=$!
  disown "$!"  # stopped by PID in cleanup, without the shell's "Killed" notes
done
for id in 1 2 3; do
  deadline=$((SECONDS + 30))
  until mountpoint -q "$work/$id/mnt"; do
    ((SECONDS < deadline)) || { echo "member $id did not mount" >&2; exit 1; }
    sleep 0.02
  done
done
deadline=$((SECONDS + 30))
until printf x 2>/dev/null >"$work/2/mnt/.probe"; do
  ((SECONDS < deadline)) || { echo "no quorum" >&2; exit 1; }
  sleep 0.02
done
for id in 1 2 3; do
  grep -q 'now leading' "$work/$id/log" && echo "ensemble up: member $id leads; writers on member 2, watcher on member 1"
done

shared_dir() {  # shared_dir NAME: made through member 2, waited for on member 1
  mkdir "$work/2/mnt/$1"
  until [[ -d $work/1/mnt/$1 ]]; do sleep 0.01; done
}

# --- 1. lag
for writers in $writers_list; do
  shared_dir "lag-$writers"
  "$echolag" lag --remote "$work/2/mnt/lag-$writers" --local "$work/1/mnt/lag-$writers" \
    --writers "$writers" --seconds "$seconds" --log "$work/1/log" --tag "p$writers-" || echo "(some events missing)"
  echo
done

# --- 2. overtake, idle and under load
shared_dir overtake-idle
"$echolag" overtake --remote "$work/2/mnt/overtake-idle" --local "$work/1/mnt/overtake-idle" --trials "$trials"
echo "(idle)"
echo
if ((load_writers > 0)); then
  shared_dir load
  for ((w = 0; w < load_writers; w++)); do
    (for ((i = 0; ; i++)); do : >"$work/2/mnt/load/w$w-$i" || true; done) &
    load_pids+=($!)
    disown "$!"
  done
  shared_dir overtake-load
  "$echolag" overtake --remote "$work/2/mnt/overtake-load" --local "$work/1/mnt/overtake-load" --trials "$trials"
  echo "(with $load_writers writer processes creating files through member 2 in another directory)"
fi
