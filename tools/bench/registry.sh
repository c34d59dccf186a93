#!/usr/bin/env bash
# registry.sh: the service registry and config center recipes on a 3-member ensemble on 127.0.0.1,
# each member mounted (docs/benchmarks.md, "Registry and config center"):
#   1. registrybench (C++: what the mount gives, without the shell's own cost): registrations/s
#      (ephemeral create + JSON, N processes over the three mounts), discovery queries/s (list a
#      service of --instances instances and read each), and config push latency from the
#      publisher's write to the last member's subscriber having read it (p50/p99 over --pushes);
#   2. the recipe scripts themselves (examples/registry.sh and config-center.sh, as a user runs
#      them): --script-instances `registry.sh register` processes over the three mounts (time to
#      all registered), `registry.sh list` loops on the three mounts for --seconds, and
#      --script-pushes `config-center.sh publish` with a `subscribe` on every mount (publish start
#      to the last subscriber's print).
#
#   $ cmake --build build --target quorumfs registrybench
#   $ tools/bench/registry.sh                        # --procs "3 12" --pushes 200
#
# Options: --build DIR, --procs "3 12", --registrations R (per process), --instances N,
#          --seconds S, --pushes P, --script-instances N, --script-pushes P,
#          --tick-ms MS (zoo.cfg tickTime, default 200), --out DIR (keep logs and JSON).
# The load average is printed before and after (the machine may be shared). Everything started is
# stopped by PID and unmounted on exit.
set -euo pipefail

bench_name=registry
# The work dir, the ports, the ensemble and its cleanup (zk-ensemble.sh; no ZooKeeper here).
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
repo=$bench_repo
procs_list="3 12"
registrations=300
instances=10
seconds=5
pushes=200
script_instances=60
script_pushes=50
usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --procs) procs_list=$2; shift 2 ;;
    --registrations) registrations=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --pushes) pushes=$2; shift 2 ;;
    --script-instances) script_instances=$2; shift 2 ;;
    --script-pushes) script_pushes=$2; shift 2 ;;
    --tick-ms) tick_ms=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "registry.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done

registrybench=$build/tools/bench/registrybench
examples=$repo/examples
helpers=()  # recipe script processes: bench_cleanup stops them by PID before the ensemble
bench_stop_extra() {
  local pid
  for pid in "${helpers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${helpers[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

bench_start_work
qfs_start
qfs_wait_mounted
deadline=$((SECONDS + 30))
until printf x 2>/dev/null >"$work/q1/mnt/.probe"; do
  ((SECONDS < deadline)) || { echo "no quorum" >&2; exit 1; }
  sleep 0.02
done
mounts=("$work/q1/mnt" "$work/q2/mnt" "$work/q3/mnt")
echo "ensemble up: 3 members, leader $(qfs_leader); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. registrybench
first=1
for procs in $procs_list; do
  phases=register,discover
  ((first)) && phases=register,discover,push # (the push is sequential: once is enough)
  first=0
  "$registrybench" "${mounts[@]}" --procs "$procs" --registrations "$registrations" \
    --instances "$instances" --seconds "$seconds" --pushes "$pushes" --phases "$phases" \
    --json "$work/registrybench-p$procs.json" || echo "(registrybench reported errors)"
  sleep 2 # (the registered instances' deletes are applied before the next run)
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 2. the recipe scripts
# percentiles: stdin one ms figure a line -> "p50 X, p99 Y, max Z (n N)". Below 100 samples the
# 99th percentile (nearest rank) is the largest sample: then only p50 and max are printed.
percentiles() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1
    if (NR < 100) { printf "p50 %.1f ms, max %.1f ms (n %d; too few for a p99)\n", p50, v[NR], NR; exit }
    printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (n %d)\n", p50, v[i], v[NR], NR }'
}

echo "--- recipe scripts: registry.sh register x$script_instances over 3 mounts"
start=$EPOCHREALTIME
for ((k = 0; k < script_instances; k++)); do
  "$examples/registry.sh" "${mounts[k % 3]}" register scripted "10.1.$((k / 256)).$((k % 256)):8080" \
    weight=$((1 + k % 5)) >"$work/register-$k" 2>&1 &
  helpers+=($!)
done
deadline=$((SECONDS + 120))
until (($(cat "$work"/register-* | grep -c '^registered') == script_instances)); do
  ((SECONDS < deadline)) || { echo "registrations not done after 120 s" >&2; break; }
  sleep 0.01
done
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
echo "registered $script_instances in ${elapsed} s: $(awk -v n="$script_instances" -v s="$elapsed" 'BEGIN { printf "%.0f", n / s }')/s (a process each)"

echo "--- recipe scripts: registry.sh list, one loop per mount for $seconds s ($script_instances instances)"
for id in 0 1 2; do
  (
    end=$((SECONDS + seconds)) count=0
    while ((SECONDS < end)); do "$examples/registry.sh" "${mounts[id]}" list scripted >/dev/null; count=$((count + 1)); done
    echo "$count" >"$work/list-count-$id"
  ) &
  helpers+=($!)
done
wait "${helpers[@]: -3}" 2>/dev/null || true
lists=$(cat "$work"/list-count-* | awk '{ s += $1 } END { print s }')
echo "list: $lists in $seconds s: $(awk -v n="$lists" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')/s ($(awk -v n="$lists" -v s="$seconds" -v i="$script_instances" 'BEGIN { printf "%.0f", n * i / s }') instance reads/s)"
for pid in "${helpers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
helpers=()

echo "--- recipe scripts: config-center.sh, $script_pushes pushes, a subscriber on each mount"
for id in 0 1 2; do
  # Each line the subscriber prints, stamped when it arrives.
  "$examples/config-center.sh" "${mounts[id]}" subscribe \
    > >(while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$work/sub-$id") 2>&1 &
  helpers+=($!)
done
printf '{"push":-1}\n' | "$examples/config-center.sh" "${mounts[0]}" publish >/dev/null
for id in 0 1 2; do
  deadline=$((SECONDS + 30))
  until grep -q '{"push":-1}' "$work/sub-$id"; do ((SECONDS < deadline)) || break; sleep 0.05; done
done
: >"$work/push-ms"
for ((k = 0; k < script_pushes; k++)); do
  begin=$EPOCHREALTIME
  printf '{"push":%d}\n' "$k" | "$examples/config-center.sh" "${mounts[k % 3]}" publish >/dev/null
  deadline=$((SECONDS + 10))
  until grep -q "{\"push\":$k}" "$work/sub-0" && grep -q "{\"push\":$k}" "$work/sub-1" &&
    grep -q "{\"push\":$k}" "$work/sub-2"; do
    ((SECONDS < deadline)) || { echo "push $k not seen everywhere in 10 s" >&2; break; }
    sleep 0.002
  done
  last=$(grep -h "{\"push\":$k}" "$work"/sub-[012] | cut -d' ' -f1 | sort -n | tail -n 1)
  [[ -n $last ]] && awk -v a="$begin" -v b="$last" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$work/push-ms"
done
echo "push (publish start to the last subscriber's print): $(percentiles <"$work/push-ms")"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
