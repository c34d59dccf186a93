#!/usr/bin/env bash
# Memory, snapshot size and restart time of quorumfs holding N znodes of B bytes.
#
#   $ tools/bench/memory.sh --count 100000              # tree written straight into a snapshot
#   $ tools/bench/memory.sh --count 100000 --via-mount  # tree created through the mount (8 procs)
#   count=100000 bytes=100 via=snapshot snapshot_mb=19.1 restart_to_mounted_s=0.47 rss_mb=39.4 ...
#
# Restart = process start until the mount answers (`mountpoint -q`), polled every 10 ms.
# RSS is read from /proc/PID/status one second after the mount answers. Everything it starts is
# unmounted and killed by PID on exit, and its temp dir removed.
set -euo pipefail

build=$(cd "$(dirname "$0")/../.." && pwd)/build
count=100000
bytes=100
via=snapshot
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --via-mount) via=mount; shift ;;
    *) echo "usage: $0 [--build DIR] [--count N] [--bytes B] [--via-mount]" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/quorumfs-memory.XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  fusermount3 -u -z "$work/mnt" 2>/dev/null || true
  if [[ -n $pid ]]; then wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt"

start() {
  local started=$EPOCHREALTIME
  "$build/quorumfs" --data "$work/data" "$work/mnt" >>"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    mountpoint -q "$work/mnt" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
    sleep 0.01
  done
  mountpoint -q "$work/mnt" || { echo "not mounted after 30 s" >&2; exit 1; }
  start_s=$(echo "$EPOCHREALTIME - $started" | bc)
}
stop() {
  kill "$pid"
  wait "$pid" || true
  pid=
}
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }

fill_s=
if [[ $via == snapshot ]]; then
  "$build/tools/populate/populate" --data "$work/data" --count "$count" --bytes "$bytes" >/dev/null
else
  start
  started=$EPOCHREALTIME
  "$build/tools/populate/populate" --mount "$work/mnt" --count "$count" --bytes "$bytes" --procs 8
  fill_s=$(echo "$EPOCHREALTIME - $started" | bc)
  sleep 1
  echo "rss_mb_after_filling=$(rss_mb)"
  stop
fi
start
restart_s=$start_s
sleep 1
rss=$(rss_mb)
nodes=$(find "$work/mnt/bench" -mindepth 2 | wc -l)
stop
snapshot=$(find "$work/data" -maxdepth 1 -name 'snapshot.*' ! -name '*.tmp' -printf '%s %p\n' | sort -k2 | tail -n 1)
snapshot_mb=$(echo "scale=1; ${snapshot%% *} / 1048576" | bc)
echo "count=$count bytes=$bytes via=$via nodes_listed=$nodes snapshot_mb=$snapshot_mb" \
  "restart_to_mounted_s=$restart_s rss_mb=$rss${fill_s:+ fill_s=$fill_s}"
