#!/usr/bin/env bash
# ab-mount.sh: two builds of quorumfs, A and B, through the mount of a follower of a 3-member
# loopback ensemble (fsync on), by fsbench: the before/after of a change to the write path.
#
#   $ git worktree add ../before HEAD~3 && cmake -S ../before -B ../before/build && cmake --build ../before/build --target quorumfs
#   $ tools/bench/ab-mount.sh --a ../before/build --b build --reps 3
#   rep 1: A  1 proc        create   612 ops/s  p50 1.512 ms
#   ...
#   | op | procs | A ops/s | B ops/s | B/A | A p50 ms | B p50 ms |
#
# Each repetition starts a fresh ensemble of A, runs the shapes, stops it, then the same with B
# (A and B alternate first from one repetition to the next). Shapes: 1 process; 8 processes in
# one shared directory; each with fsbench's five phases (create as `echo x > new`: open
# O_CREAT|O_TRUNC, write 100 B, close; set; get; stat; delete) and --ops files per process. The
# table gives medians over the repetitions with min-max.
#
# Options:
#   --a DIR, --b DIR   build trees with quorumfs (fsbench comes from --build's tools/bench)
#   --ops M            files per process and phase (default 1000)
#   --reps N, --tick-ms MS, --run-timeout S, --build DIR, --out DIR (as zk-ensemble.sh)
set -euo pipefail

bench_name=ab-mount.sh
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
ops=1000
build_a=""
build_b=""
while (($#)); do
  case $1 in
    --a) build_a=$(cd "$2" && pwd); shift 2 ;;
    --b) build_b=$(cd "$2" && pwd); shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    *) bench_parse_option "$@"; shift "$bench_shift" ;;
  esac
done
[[ -n $build_a && -n $build_b ]] || { say "--a and --b are required"; bench_usage 2; }
bench_check_tools
[[ -x $build/tools/bench/fsbench ]] || bench_build_tool fsbench
bench_start_work
fsbench_bin=$build/tools/bench/fsbench
results=$work/results.jsonl

qfs_stop() {
  local id
  qfs_unmount_all
  for id in "${!member_pid[@]}"; do stop_pid "${member_pid[$id]}"; done
  member_pid=()
  rm -rf "$work"/q1 "$work"/q2 "$work"/q3
}

# run_build LABEL BUILD REP
run_build() {
  local label=$1 rep=$3 follower mnt procs shared name
  build=$2 qfs_start
  qfs_wait_mounted
  for _ in $(seq 200); do follower=$(qfs_follower); [[ -n $follower && -n $(qfs_leader) ]] && break; sleep 0.05; done
  mnt=$work/q$follower/mnt
  for _ in $(seq 200); do echo x >"$mnt/.probe" 2>/dev/null && break; sleep 0.05; done
  for shape in "1 no" "8 yes"; do
    read -r procs shared <<<"$shape"
    name="$procs proc"; [[ $shared == yes ]] && name="8 one dir"
    local args=("$mnt" --procs "$procs" --ops "$ops" --create-flags trunc --json "$work/run.json" --label "$label")
    [[ $shared == yes ]] && args+=(--shared-dir)
    bench_run "$run_timeout_s" "$work/run.out" "$work/run.err" "$fsbench_bin" "${args[@]}" || { say "fsbench failed: $(tail -3 "$work/run.err")"; continue; }
    jq -c --arg build "$label" --arg shape "$name" --argjson rep "$rep" \
      '.results | to_entries[] | {build: $build, shape: $shape, rep: $rep, op: .key, ops_per_s: .value.ops_per_s, p50_ms: (.value.p50_us / 1000)}' \
      "$work/run.json" >>"$results"
    jq -r --arg build "$label" --arg shape "$name" --argjson rep "$rep" \
      '.results | to_entries[] | "rep \($rep): \($build)  \($shape)\t\(.key)\t\(.value.ops_per_s | floor) ops/s  p50 \(.value.p50_us / 1000) ms"' "$work/run.json" >&2
  done
  qfs_stop
}

for ((rep = 1; rep <= reps; rep++)); do
  if ((rep % 2)); then order="A B"; else order="B A"; fi
  for label in $order; do
    if [[ $label == A ]]; then run_build A "$build_a" "$rep"; else run_build B "$build_b" "$rep"; fi
  done
done

jq -s -r '
  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def cell(f): (map(f) | median) as $m | "\($m * 1000 | round / 1000) (\(map(f) | min * 1000 | round / 1000)–\(map(f) | max * 1000 | round / 1000))";
  "| op | shape | A ops/s | B ops/s | B/A | A p50 ms | B p50 ms |", "|---|---|---|---|---|---|---|",
  (group_by([.shape, .op])[] as $g
   | ($g | map(select(.build == "A"))) as $a | ($g | map(select(.build == "B"))) as $b
   | select(($a | length) > 0 and ($b | length) > 0)
   | "| \($g[0].op) | \($g[0].shape) | \($a | cell(.ops_per_s)) | \($b | cell(.ops_per_s)) | ×\((($b | map(.ops_per_s) | median) / ($a | map(.ops_per_s) | median) * 100 | round) / 100) | \($a | cell(.p50_ms)) | \($b | cell(.p50_ms)) |")
' "$results"
