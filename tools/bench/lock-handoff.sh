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
# PID and every mount unmounted on exit. Both ensembles are started by tools/bench/zk-ensemble.sh.
set -euo pipefail

bench_name=lock-handoff.sh
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
iterations=200
warmup=200
hold_us=100
while (($#)); do
  case $1 in
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --hold-us) hold_us=$2; shift 2 ;;
    *) bench_parse_option "$@"; shift "$bench_shift" ;;
  esac
done

bench_check_tools
lockbench=$build/tools/bench/lockbench
[[ -x $build/quorumfs ]] || { say "$build/quorumfs not built"; exit 1; }
if [[ ! -x $lockbench ]] || ! "$lockbench" --help | grep -q 'zk mode: built'; then
  bench_build_tool lockbench
  "$lockbench" --help | grep -q 'zk mode: built' || { say "lockbench still has no zk mode"; exit 1; }
fi
bench_start_work

# --- quorumfs: the lock file, on every mount before the contenders open it with O_CREAT
make_lock_file() {
  local id deadline=$((SECONDS + 30))
  until mkdir -p "$work/q1/mnt/locks" 2>/dev/null && printf '' 2>/dev/null >"$work/q1/mnt/locks/L"; do
    ((SECONDS < deadline)) || { say "no quorum through member 1"; exit 1; }
    sleep 0.05
  done
  for id in 2 3; do
    until sync "$work/q$id/mnt/locks" 2>/dev/null && [[ -e $work/q$id/mnt/locks/L ]]; do
      ((SECONDS < deadline)) || { say "member $id does not see locks/L"; exit 1; }
      sleep 0.05
    done
  done
}

# --- runs
results=$work/results.jsonl
# bench RUN LABEL MODE TARGET...: one lockbench run of --iterations (of --warmup when RUN is
# warm-up, whose JSON line is not kept); its human line is shown, its JSON line kept.
bench() {
  local run=$1 label=$2 mode=$3 status=0 count=$iterations json=$results
  shift 3
  [[ $run == warm-up ]] && { count=$warmup; json=$work/warmup.jsonl; }
  bench_run "$run_timeout_s" "$work/run.out" "$work/run.err" "$lockbench" "$mode" "$@" \
    --iterations "$count" --hold-us "$hold_us" --label "$label" --json "$json" || status=$?
  printf '%-7s %-12s %s\n' "$run:" "$label" "$(grep -v '^{' "$work/run.out" || true)"
  if ((status != 0)); then
    say "$label: lockbench exited $status:"
    cat "$work/run.err" >&2
    if ((status == 124)); then say "$label: timed out after ${run_timeout_s}s"; fi
  fi
}

zk_start
qfs_start || exit 1
zk_wait
qfs_wait_mounted
make_lock_file
echo "ensembles up: quorumfs leader $(qfs_leader), ZooKeeper leader $(zk_leader)"

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
