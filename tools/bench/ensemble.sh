#!/usr/bin/env bash
# ensemble.sh: a 3-member quorumfs ensemble on 127.0.0.1, each member mounted, measured through
# the mounts:
#   1. fsbench (create/set/get/stat/delete: ops/s, p50/p99) on a follower's and on the leader's
#      mount, with 1 and 8 worker processes (--procs);
#   2. failover: a writer on a follower writes in a loop, the leader is killed with SIGKILL; the
#      time from the kill to the end of the first successful write started after it (--rounds);
#   3. ephemeral: a process holding an ephemeral file on one member is killed with SIGKILL; the
#      time until another member's inotify watch reports the file deleted (--rounds);
#   4. catch-up: a member is stopped, --catchup-txns writes go to the others, the member is
#      restarted; the time from its start to holding the last write (after a sync).
#
#   $ cmake --build build --target quorumfs fsbench
#   $ tools/bench/ensemble.sh                    # --procs "1 8" --ops 2000 --rounds 5
#
# Options: --build DIR, --ops K, --procs "1 8", --rounds N, --catchup-txns N (default 100000),
#          --tick-ms MS (zoo.cfg tickTime, default 200), --out DIR (keep logs and JSON).
# Everything started is stopped by PID and unmounted on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build
ops=2000
procs_list="1 8"
rounds=5
catchup_txns=100000
tick_ms=200
out=""
usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --procs) procs_list=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --catchup-txns) catchup_txns=$2; shift 2 ;;
    --tick-ms) tick_ms=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "ensemble.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done

quorumfs=$build/quorumfs
fsbench=$build/tools/bench/fsbench
work=$(mktemp -d /tmp/quorumfs-ensemble-bench.XXXXXX)
base_port=$((20000 + (RANDOM % 120) * 100))  # below the ephemeral ports (32768+): an outgoing connection can hold one
declare -A pid_of=()

cleanup() {
  local name
  for name in "${!pid_of[@]}"; do kill -KILL "${pid_of[$name]}" 2>/dev/null || true; done
  for name in 1 2 3; do fusermount3 -u -z "$work/$name/mnt" 2>/dev/null || true; done
  if [[ -n $out ]]; then mkdir -p "$out" && cp -r "$work"/. "$out"/; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
ms_between() { echo "$1 $2" | awk '{ printf "%.1f", ($2 - $1) * 1000 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf 'bench-%s\n' "$RANDOM$RANDOM" >"$work/secret"
for id in 1 2 3; do
  mkdir -p "$work/$id/data" "$work/$id/mnt"
  echo "$id" >"$work/$id/data/myid"
  {
    echo "dataDir=$work/$id/data"
    echo "peerSecretFile=$work/secret"
    echo "tickTime=$tick_ms"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "sessionTimeout=$((tick_ms * 10))"
    for member in 1 2 3; do echo "server.$member=127.0.0.1:$((base_port + member)):$((base_port + 50 + member))"; done
  } >"$work/$id.cfg"
done

spawn_member() {
  local id=$1
  "$quorumfs" --config "$work/$id.cfg" "$work/$id/mnt" >>"$work/$id/log" 2>&1 &
  pid_of[$id]=$!
}
wait_mounted() {  # a member mounts once synced with a leader (or after writeTimeout without one)
  local id=$1 deadline=$((SECONDS + 30))
  until mountpoint -q "$work/$id/mnt"; do
    ((SECONDS < deadline)) || { echo "member $id did not mount" >&2; exit 1; }
    sleep 0.02
  done
}
start_member() {
  spawn_member "$1"
  wait_mounted "$1"
}
stop_member() {  # stop_member ID SIGNAL
  kill -"$2" "${pid_of[$1]}" 2>/dev/null || true
  wait "${pid_of[$1]}" 2>/dev/null || true
  unset "pid_of[$1]"
  fusermount3 -u -z "$work/$1/mnt" 2>/dev/null || true
}
leader() {
  local id
  for id in "${!pid_of[@]}"; do
    [[ $(grep -E 'now (leading|following|looking)' "$work/$id/log" | tail -n 1) == *"now leading"* ]] && { echo "$id"; return; }
  done
}
wait_writable() {  # wait_writable ID
  local deadline=$((SECONDS + 30))
  until printf x 2>/dev/null >"$work/$1/mnt/.probe"; do
    ((SECONDS < deadline)) || { echo "no quorum through member $1" >&2; exit 1; }
    sleep 0.02
  done
}
a_follower() {
  local id
  for id in "${!pid_of[@]}"; do [[ $id != "$(leader)" ]] && { echo "$id"; return; }; done
}

for id in 1 2 3; do spawn_member "$id"; done
for id in 1 2 3; do wait_mounted "$id"; done
wait_writable 1
echo "ensemble up: leader $(leader)"

# --- 1. throughput and latency through the mounts
for role in follower leader; do
  id=$(a_follower)
  [[ $role == leader ]] && id=$(leader)
  for procs in $procs_list; do
    dir="$work/$id/mnt/bench-$role-$procs"
    mkdir "$dir"
    "$fsbench" "$dir" --procs "$procs" --ops "$ops" --label "$role-p$procs" --json "$work/fsbench-$role-p$procs.json"
    rmdir "$dir" 2>/dev/null || true
  done
done

# --- 2. failover: leader killed -> first successful write started after the kill
failover_ms=()
for ((round = 1; round <= rounds; round++)); do
  old=$(leader)
  writer_id=$(a_follower)
  stamps="$work/failover-$round"
  : >"$stamps"
  (
    for ((i = 0; ; i++)); do
      start=$EPOCHREALTIME
      if printf 'v%d' "$i" 2>/dev/null >"$work/$writer_id/mnt/failover-$i"; then echo "$start $EPOCHREALTIME" >>"$stamps"; fi
      [[ -e $work/stop-writer ]] && break
    done
  ) &
  writer=$!
  sleep 1
  killed=$(now)
  stop_member "$old" KILL
  deadline=$((SECONDS + 30))
  first=""
  while [[ -z $first ]] && ((SECONDS < deadline)); do
    first=$(awk -v k="$killed" '$1 > k { print $2; exit }' "$stamps")
    sleep 0.01
  done
  touch "$work/stop-writer"
  wait "$writer" 2>/dev/null || true
  rm -f "$work/stop-writer"
  if [[ -n $first ]]; then failover_ms+=("$(ms_between "$killed" "$first")"); else failover_ms+=(timeout); fi
  echo "failover round $round: leader $old killed, first write after ${failover_ms[-1]} ms (new leader $(leader))"
  start_member "$old"
  wait_writable "$old"
  rm -f "$work/$writer_id/mnt"/failover-*
done

# --- 3. ephemeral: holder killed on one member -> delete seen on another
ephemeral_ms=()
mkdir -p "$work/1/mnt/eph"
chmod g+s "$work/1/mnt/eph"
for ((round = 1; round <= rounds; round++)); do
  (exec 3>"$work/1/mnt/eph/holder-$round" && exec sleep 600) &
  holder=$!
  until [[ -e $work/3/mnt/eph/holder-$round ]]; do sleep 0.01; done
  inotifywait -q -e delete "$work/3/mnt/eph" >/dev/null 2>&1 && echo "$EPOCHREALTIME" >"$work/eph-seen" &
  watcher=$!
  sleep 0.3
  killed=$(now)
  kill -KILL "$holder"
  wait "$watcher" || true
  wait "$holder" 2>/dev/null || true
  ephemeral_ms+=("$(ms_between "$killed" "$(cat "$work/eph-seen")")")
  echo "ephemeral round $round: gone on member 3 after ${ephemeral_ms[-1]} ms"
done

# --- 4. catch-up after missing many txns
behind=$(a_follower)
other=$(leader)
stop_member "$behind" TERM
mkdir -p "$work/$other/mnt/catchup"
fill_started=$(now)
fillers=()
for ((w = 0; w < 8; w++)); do
  (for ((i = w; i < catchup_txns; i += 8)); do printf x >"$work/$other/mnt/catchup/f-$i"; done) &
  fillers+=($!)
done
wait "${fillers[@]}"
echo "catch-up fill: $catchup_txns creates through member $other in $(ms_between "$fill_started" "$(now)") ms"
printf done >"$work/$other/mnt/catchup-last"
started=$(now)
start_member "$behind"
until [[ $(sync "$work/$behind/mnt/catchup-last" 2>/dev/null; cat "$work/$behind/mnt/catchup-last" 2>/dev/null) == done ]]; do sleep 0.01; done
caught=$(now)
how=DIFF
grep -q "installed" "$work/$behind/log" && how=SNAP
echo "catch-up: member $behind restarted $catchup_txns+ txns behind, holds the last write after $(ms_between "$started" "$caught") ms ($how)"

echo
echo "failover_ms   median $(printf '%s\n' "${failover_ms[@]}" | grep -v timeout | median)  all: ${failover_ms[*]}"
echo "ephemeral_ms  median $(printf '%s\n' "${ephemeral_ms[@]}" | median)  all: ${ephemeral_ms[*]}"
