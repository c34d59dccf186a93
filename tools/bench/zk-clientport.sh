#!/usr/bin/env bash
# zk-clientport.sh: the ZooKeeper client protocol, quorumfs's port (`clientPort=` in zoo.cfg)
# against Apache ZooKeeper 3.8, both as 3-member ensembles on 127.0.0.1 with every member fsyncing
# its log, measured by zkbench (the C client's async calls) through a follower of each.
#
#   $ cmake --build build --target quorumfs zkbench
#   $ tools/bench/zk-clientport.sh                # --reps 3 --ops 2000
#   reproduce: tools/bench/zk-clientport.sh --reps 3 --ops 2000 --shapes '1x1 8x1 8x64' ...
#   ensembles up: ZooKeeper leader 2, measured through 1; quorumfs leader 3, measured through 1
#   rep 1: quorumfs   create  1x1   ... ops/s  p50 ... ms
#   rep 1: zookeeper  create  1x1   ... ops/s  p50 ... ms
#   ...
#   | op | clients×outstanding | ZooKeeper ops/s | quorumfs ops/s | ratio | ... p50 ms ... |
#
# Each repetition runs every shape (CLIENTSxOUTSTANDING: sessions, and requests in flight per
# session) and op (create, set, get, exists, delete) once on each system, the two systems one right
# after the other (never at the same time). zkbench does --ops requests per client with --size
# bytes of data (set/get/exists/delete on nodes it creates first, untimed). The table gives, per op
# and shape, the median over the repetitions with min-max, and the ratios quorumfs/ZooKeeper of
# the medians (above 1 is better for ops/s, below 1 for p50). Failed runs are shown and left out.
#
# quorumfs members run with --no-mount and `clientPort=`/`clientPortAddress=127.0.0.1` in their
# zoo.cfg. A daemon without the ZooKeeper client port logs "unknown key clientPort (ignored)" and
# listens on nothing: the script then says so and runs the ZooKeeper rows alone.
#
# Options:
#   --ops M            requests per client and run (default 2000)
#   --shapes "..."     CLIENTSxOUTSTANDING list (default "1x1 8x1 8x64")
#   --op-list "..."    ops (default "create set get exists delete")
#   --size B           data bytes per node (default 100)
#   --systems "..."    which of quorumfs, zookeeper to run (default both)
#   --warmup M         one untimed run of each op at the last shape first, M requests per client
#                      (default 2000; 0: none): ZooKeeper's JVM is slow until it is warm
#   --reps N           repetitions (default 3)
#   --tick-ms MS       quorumfs tickTime (default 200, as tools/bench/ensemble.sh)
#   --run-timeout S    stop a zkbench run after S seconds (default 300)
#   --build DIR        build tree with quorumfs and tools/bench/zkbench (default: <repo>/build)
#   --out DIR          keep the JSON lines, configs and logs there
#
# Needs the Debian packages zookeeper and libzookeeper-mt-dev (installed when missing, as root);
# builds zkbench if it is missing. Both ensembles are started by tools/bench/zk-ensemble.sh, and
# everything started is stopped by PID on exit, whatever happens.
set -euo pipefail

bench_name=zk-clientport.sh
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
ops=2000
shapes="1x1 8x1 8x64"
op_list="create set get exists delete"
size=100
systems="quorumfs zookeeper"
warmup=2000
arguments=("$@")
while (($#)); do
  case $1 in
    --ops) ops=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --op-list) op_list=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) bench_parse_option "$@"; shift "$bench_shift" ;;
  esac
done

# The command that reproduces this run, every option spelled out.
reproduce="tools/bench/zk-clientport.sh --reps $reps --ops $ops --shapes '$shapes' --op-list '$op_list' --size $size --systems '$systems' --warmup $warmup --tick-ms $tick_ms"
((${#arguments[@]})) && say "arguments: ${arguments[*]}"
echo "reproduce: $reproduce"

bench_check_tools
zkbench=$build/tools/bench/zkbench
[[ -x $zkbench ]] || bench_build_tool zkbench
[[ -x $zkbench ]] || { say "no $zkbench (is libzookeeper-mt-dev installed?)"; exit 1; }
bench_start_work

# Why quorumfs is not measured (empty while it is).
quorumfs_down=""

# Waits for a quorumfs leader and for every member's client port; sets quorumfs_down on failure.
qfs_wait_serving() {
  local id deadline=$((SECONDS + 30))
  until [[ -n $(qfs_leader) ]]; do
    for id in 1 2 3; do qfs_alive "$id" || { quorumfs_down="member $id exited (log above)"; return; }; done
    ((SECONDS < deadline)) || { quorumfs_down="no leader elected within 30 s"; return; }
    sleep 0.1
  done
  for id in 1 2 3; do
    until port_open "$(qfs_client_port "$id")"; do
      qfs_alive "$id" || { quorumfs_down="member $id exited (log above)"; return; }
      if ((SECONDS >= deadline)); then
        quorumfs_down="member $id does not listen on clientPort $(qfs_client_port "$id")"
        grep -q 'unknown key clientPort' "$work/q$id/log" &&
          quorumfs_down+=" (its log: 'unknown key clientPort (ignored)': this build has no ZooKeeper client port yet)"
        return
      fi
      sleep 0.1
    done
  done
}

start_systems() {
  local id
  if [[ $systems == *zookeeper* ]]; then zk_start; fi
  if [[ $systems == *quorumfs* ]]; then
    qfs_start --no-mount --client-port || quorumfs_down="could not start it"
  else
    quorumfs_down="not asked for (--systems)"
  fi
  if [[ $systems == *zookeeper* ]]; then
    zk_wait
    id=$(zk_follower)
    zk_target=127.0.0.1:$(zk_client_port "$id")
    echo "ZooKeeper up: leader $(zk_leader), measured through follower $id ($zk_target)"
  fi
  [[ -n $quorumfs_down ]] || qfs_wait_serving
  if [[ -z $quorumfs_down ]]; then
    id=$(qfs_follower)
    qfs_target=127.0.0.1:$(qfs_client_port "$id")
    echo "quorumfs up: leader $(qfs_leader), measured through follower $id ($qfs_target)"
  else
    say "quorumfs not measured: $quorumfs_down"
  fi
}

results=$work/results.jsonl
quorumfs_failures=0  # in a row; three end the quorumfs runs

# bench RUN SYSTEM OP SHAPE: one zkbench run; its JSON line goes to results (to warmup.jsonl when
# RUN is warm-up). A run that prints no JSON line is recorded as failed.
bench() {
  local run=$1 system=$2 op=$3 shape=$4 count=$ops json=$results status=0 target
  local clients=${shape%x*} outstanding=${shape#*x}
  [[ $system == quorumfs ]] && target=$qfs_target || target=$zk_target
  [[ $run == warm-up ]] && { count=$warmup; json=$work/warmup.jsonl; }
  bench_run "$run_timeout_s" "$work/run.out" "$work/run.err" "$zkbench" --hosts "$target" \
    --op "$op" --clients "$clients" --outstanding "$outstanding" --ops "$count" --size "$size" \
    --label "$system" || status=$?
  if grep -q '^{' "$work/run.out"; then
    grep '^{' "$work/run.out" >>"$json"
  else
    jq -cn --arg label "$system" --arg op "$op" --argjson clients "$clients" \
      --argjson outstanding "$outstanding" \
      '{label: $label, op: $op, clients: $clients, outstanding: $outstanding, ok: false}' >>"$json"
  fi
  printf '%-8s %-10s %-7s %-5s %s\n' "$run:" "$system" "$op" "$shape" \
    "$(jq -r 'if .ops_per_s then "\(.ops_per_s | round) ops/s  p50 \(.p50_ms * 1000 | round / 1000) ms  p99 \(.p99_ms * 1000 | round / 1000) ms" else "failed" end' "$work/run.out" 2>/dev/null | tail -n 1)"
  if ((status != 0)); then
    say "$system $op $shape: zkbench exited $status:"
    sed 's/^/  /' "$work/run.err" >&2
    ((status == 124)) && say "$system $op $shape: timed out after ${run_timeout_s}s"
  fi
  return "$status"
}

# run_all RUN SHAPES: each shape and op once on each system, quorumfs first.
run_all() {
  local run=$1 shape op
  for shape in $2; do
    for op in $op_list; do
      if [[ -z $quorumfs_down ]]; then
        if bench "$run" quorumfs "$op" "$shape"; then quorumfs_failures=0; else ((++quorumfs_failures)); fi
        ((quorumfs_failures < 3)) || { quorumfs_down="three runs in a row failed"; say "quorumfs: $quorumfs_down; no more quorumfs runs"; }
      fi
      if [[ $systems == *zookeeper* ]]; then bench "$run" zookeeper "$op" "$shape" || true; fi
    done
  done
}

start_systems
[[ $systems == *zookeeper* || -z $quorumfs_down ]] || { say "nothing to measure"; exit 1; }
((warmup > 0)) && run_all warm-up "${shapes##* }"
for ((rep = 1; rep <= reps; rep++)); do run_all "rep $rep" "$shapes"; done

# --- summary: medians with min-max over the repetitions, one row per op and shape
echo
[[ -s $results ]] || { say "no run produced a result"; exit 1; }
echo "| op | clients×outstanding | ZooKeeper ops/s | quorumfs ops/s | ratio | ZooKeeper p50 ms | quorumfs p50 ms | ratio | ZooKeeper p99 ms | quorumfs p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|"
jq -rs --arg shapes "$shapes" --arg ops "$op_list" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def fmt(digits): pow(10; digits) as $scale | . * $scale | round / $scale | tostring;
  def cell(runs; f; digits): [runs[] | f] as $v |
    if ($v | length) == 0 then "–"
    else ($v | median | fmt(digits)) + " (" + ($v | min | fmt(digits)) + "–" + ($v | max | fmt(digits)) + ")" end;
  def ratio(a; b; f): if (a | length) > 0 and (b | length) > 0 and ([b[] | f] | median) != 0
    then "×" + (([a[] | f] | median) / ([b[] | f] | median) | fmt(2)) else "–" end;
  . as $all |
  ($shapes | split(" ") | map(select(. != ""))) as $shape_list |
  ($ops | split(" ") | map(select(. != "")))[] as $op | $shape_list[] as $shape |
  ($shape | split("x") | map(tonumber)) as [$c, $k] |
  [$all[] | select(.op == $op and .clients == $c and .outstanding == $k)] as $cell |
  [$cell[] | select(.label == "zookeeper" and .ok)] as $zk |
  [$cell[] | select(.label == "quorumfs" and .ok)] as $q |
  ([$cell[] | select(.ok | not)] | group_by(.label) | map("\(length) \(.[0].label) failed") | join(", ")) as $failed |
  "| \($op) | \($c)×\($k) | \(cell($zk; .ops_per_s; 0)) | \(cell($q; .ops_per_s; 0)) | \(ratio($q; $zk; .ops_per_s)) | " +
  "\(cell($zk; .p50_ms; 3)) | \(cell($q; .p50_ms; 3)) | \(ratio($q; $zk; .p50_ms)) | " +
  "\(cell($zk; .p99_ms; 2)) | \(cell($q; .p99_ms; 2))" + (if $failed != "" then " (\($failed))" else "" end) + " |"
  ' "$results"
echo
[[ -z $quorumfs_down ]] || echo "quorumfs not measured: $quorumfs_down"
echo "reproduce: $reproduce"
