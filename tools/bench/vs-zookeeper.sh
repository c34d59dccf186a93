#!/usr/bin/env bash
# vs-zookeeper.sh: quorumfs next to Apache ZooKeeper 3.8, both as 3-member ensembles on 127.0.0.1
# with every member fsyncing before it acknowledges, measured three ways through a follower:
#   mount        the FUSE mount of a quorumfs follower, by fsbench (processes doing open/write/close);
#   zookeeper    a ZooKeeper follower, by zkbench (the C client's async calls);
#   clientport   the same quorumfs follower's ZooKeeper client port, by the same zkbench.
# It writes a Markdown table, the goal check of issue 10 and two PNG plots.
#
# How to run. As root on an otherwise idle machine (it installs zookeeper, libzookeeper-mt-dev, jq
# and gnuplot-nox when missing, and builds quorumfs, fsbench and zkbench when missing; the defaults
# take about 15 minutes on 2 CPUs):
#
#   $ tools/bench/vs-zookeeper.sh --out bench-results/vs-zookeeper-$(date +%F)
#   results in bench-results/vs-zookeeper-...
#   reproduce: tools/bench/vs-zookeeper.sh --reps 3 --ops 2000 --warmup 2000 --tick-ms 200
#   ZooKeeper up: leader 3, measured through follower 1 (127.0.0.1:...)
#   quorumfs up: leader 2, measured through follower 1: mount .../q1/mnt, client port 127.0.0.1:...
#   rep 1:   mount       mount-1          create   ... ops/s  p50 ... ms  p99 ... ms
#   ...
#   | op | | mount 1 proc | mount 8 procs one dir | ... | client port 8×64 |
#   ...
#   | goal (issue 10) | this run | goal | |
#   ...
#   table: .../table.md
#   plots: .../throughput.png .../latency-cdf.png
#
#   $ tools/bench/vs-zookeeper.sh --quick          # a smoke run of about 2 minutes
#
# Each repetition runs, one after the other (never two at a time), in three rounds:
#   round 1: fsbench, 1 process; then per op zkbench 1×1 on ZooKeeper and on the client port;
#   round 2: fsbench, 8 processes in one shared directory; then per op zkbench 8×1 on both;
#   round 3: fsbench, 8 processes with a directory each; then per op zkbench 8×64 on both;
# ZooKeeper goes first in odd repetitions and the client port in even ones. fsbench runs its five
# phases (create set get stat delete) with --ops files per process, creating as the shell's
# `echo x >new` does (--create-flags trunc: open O_CREAT|O_TRUNC|O_WRONLY, write 100 B, close);
# zkbench runs create set get exists delete, --ops requests per client, 100 B of data, at
# CLIENTS×OUTSTANDING (sessions × requests in flight per session). The mount's stat is the row of
# ZooKeeper's exists. Before the repetitions, an untimed warm-up (ZooKeeper's JVM is several times
# slower until warm): fsbench with 8 processes, and each op at 8×64 on both servers. Before each
# run, one write per quorumfs member through quorumctl waits until that member has echoed every
# earlier change on its mount (qfs_quiesce).
#
# The table gives, per op, ops/s, p50 and p99 (ms) as the median over the repetitions with the
# min–max; failed runs are counted and left out. The goal check gives the ratios issue 10 sets,
# from this run's medians. The plots: throughput.png, ops/s against clients or processes for each
# op (medians, bars min–max); latency-cdf.png, each op's latency CDF per column (at each fraction
# the median over the repetitions of that percentile). table.md, results.jsonl (one line per op and
# run, with its CDF), plot-data/ and plots.gp (`gnuplot plots.gp` in the output dir redraws them)
# land in the output dir, and the ensembles' configs and logs in its ensembles/.
#
# Options:
#   --ops M            files per process and phase (fsbench), requests per client (zkbench)
#                      (default 2000)
#   --warmup M         the warm-up's count in the same units (default 2000; 0: none)
#   --quick            --reps 1 --ops 200 --warmup 200 (options after it override these)
#   --no-plots         no PNGs (and no need for gnuplot)
#   --reps N           repetitions (default 3)
#   --tick-ms MS       quorumfs tickTime (default 200, as tools/bench/ensemble.sh)
#   --run-timeout S    stop one fsbench or zkbench run after S seconds (default 300)
#   --build DIR        build tree with quorumfs, tools/bench/fsbench and zkbench (default <repo>/build)
#   --out DIR          where results go (default: a new bench-results/vs-zookeeper-DATE.XXXX in the
#                      current directory); the work dir itself is under $TMPDIR (default /tmp)
#
# Both ensembles are started by tools/bench/zk-ensemble.sh; whatever happens, everything started is
# stopped by PID and every mount unmounted on exit.
set -euo pipefail

bench_name=vs-zookeeper.sh
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
ops=2000
warmup=2000
plots=yes
arguments=("$@")
while (($#)); do
  case $1 in
    --ops) ops=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --quick) reps=1; ops=200; warmup=200; shift ;;
    --no-plots) plots=no; shift ;;
    *) bench_parse_option "$@"; shift "$bench_shift" ;;
  esac
done
for number in "$reps" "$ops" "$warmup" "$tick_ms" "$run_timeout_s"; do
  [[ $number =~ ^[0-9]+$ ]] || { say "not a count: $number"; bench_usage 2; }
done
((reps >= 1 && ops >= 1)) || { say "--reps and --ops must be at least 1"; exit 2; }

reproduce="tools/bench/vs-zookeeper.sh --reps $reps --ops $ops --warmup $warmup --tick-ms $tick_ms"
((${#arguments[@]})) && say "arguments: ${arguments[*]}"

# The results dir is ours; zk-ensemble.sh's cleanup copies its work dir (configs and logs, not the
# members' data) into its ensembles/.
if [[ -n $out ]]; then
  results_dir=$out
  mkdir -p "$results_dir"
else
  mkdir -p bench-results
  results_dir=$(mktemp -d "bench-results/vs-zookeeper-$(date +%Y%m%d-%H%M%S).XXXX")
fi
results_dir=$(cd "$results_dir" && pwd)
out=$results_dir/ensembles
bench_out_data=no
echo "results in $results_dir"
echo "reproduce: $reproduce"

if [[ $plots == yes ]]; then bench_packages+=(gnuplot-nox); fi
bench_check_tools
fsbench=$build/tools/bench/fsbench
zkbench=$build/tools/bench/zkbench
# A tool built before --create-flags (fsbench) or cdf_ms (zkbench) is rebuilt too.
quorumctl=$build/quorumctl
if [[ ! -x $build/quorumfs ]] || ! "$fsbench" --help 2>/dev/null | grep -q -- --create-flags ||
   ! "$zkbench" --help 2>/dev/null | grep -q cdf_ms || [[ ! -x $quorumctl ]]; then
  bench_build_tool quorumfs fsbench zkbench quorumctl
fi
for tool in "$build/quorumfs" "$fsbench" "$zkbench" "$quorumctl"; do
  [[ -x $tool ]] || { say "no $tool after the build (zkbench needs libzookeeper-mt-dev)"; exit 1; }
done
bench_start_work
read -r load_before _ </proc/loadavg

# --- the systems
# qfs_wait_serving ID: until member ID follows a leader, its mount takes a write and its client
# port accepts connections (30 s at most).
qfs_wait_serving() {
  local id=$1 deadline=$((SECONDS + 30)) probe
  probe=$work/q$id/mnt/vs-zookeeper-probe.$$
  until mkdir "$probe" 2>/dev/null && port_open "$(qfs_client_port "$id")"; do
    qfs_alive "$id" || exit 1
    ((SECONDS < deadline)) || { say "quorumfs member $id: no write through its mount, or no client port, within 30 s"; exit 1; }
    sleep 0.1
  done
  rmdir "$probe"
}

start_systems() {
  local deadline=$((SECONDS + 30)) id
  zk_start
  qfs_start --client-port
  zk_wait
  zk_id=$(zk_follower)
  [[ -n $zk_id ]] || { say "no ZooKeeper follower"; exit 1; }
  zk_target=127.0.0.1:$(zk_client_port "$zk_id")
  echo "ZooKeeper up: leader $(zk_leader), measured through follower $zk_id ($zk_target)"
  qfs_wait_mounted
  until [[ -n $(qfs_leader) && -n $(qfs_follower) ]]; do
    for id in 1 2 3; do qfs_alive "$id" || exit 1; done
    ((SECONDS < deadline)) || { say "no quorumfs leader and follower within 30 s"; exit 1; }
    sleep 0.1
  done
  qfs_id=$(qfs_follower)
  qfs_wait_serving "$qfs_id"
  qfs_mount=$work/q$qfs_id/mnt
  echo x >"$qfs_mount$quiesce_node"
  qfs_target=127.0.0.1:$(qfs_client_port "$qfs_id")
  echo "quorumfs up: leader $(qfs_leader), measured through follower $qfs_id: mount $qfs_mount, client port $qfs_target"
}

# qfs_quiesce: until every member's mount has raised the inotify events of every write so far. A
# write through the client port is echoed on all three mounts (docs/kernel.md, "Echo requests"),
# which takes seconds after an 8×64 run; a run started meanwhile would measure that work too, as
# would ZooKeeper's. A write through the control socket is answered once its member's echoes
# are done (docs/quorumctl.md), so one such write per member waits for each in turn.
quiesce_node=/vs-zookeeper-quiesce
qfs_quiesce() {
  local id
  for id in 1 2 3; do
    "$quorumctl" --quiet --mount "$work/q$id/mnt" set --version -1 "$quiesce_node" x ||
      say "quorumctl set on member $id failed: the next run may overlap that member's echoes"
  done
}

# Why the measurements stopped early (empty while they go on).
stopped=""
check_alive() {
  local id
  for id in 1 2 3; do
    kill -0 "${zk_pid[$id]}" 2>/dev/null || { stopped="ZooKeeper server $id exited (its log: $out/zk$id/log)"; break; }
    kill -0 "${member_pid[$id]}" 2>/dev/null || { stopped="quorumfs member $id exited (its log: $out/q$id/log)"; break; }
  done
  [[ -z $stopped ]] || say "stopping the measurements: $stopped"
  [[ -z $stopped ]]
}

# --- runs
results=$results_dir/results.jsonl
warmup_results=$results_dir/warmup.jsonl

# show RUN: one line per op of the records just added to results (or warm-up).
show() {
  local run=$1 file=$2 count=$3
  tail -n "$count" "$file" | jq -r --arg run "$run:" '
    [$run, .system, .column, .op,
     if .ok then "\(.ops_per_s | round) ops/s  p50 \(.p50_ms * 1000 | round / 1000) ms  p99 \(.p99_ms * 100 | round / 100) ms"
     else "failed" end] | @tsv' |
    while IFS=$'\t' read -r run system column op figures; do
      printf '%-8s %-11s %-16s %-7s %s\n' "$run" "$system" "$column" "$op" "$figures"
    done
}

# report_failure LABEL STATUS: what a run that exited non-zero left on stderr.
report_failure() {
  say "$1: exited $2:"
  sed 's/^/  /' "$work/run.err" | tail -n 20 >&2
  if (($2 == 124)); then say "$1: timed out after ${run_timeout_s}s"; fi
}

# mount_run RUN COLUMN PROCS [--shared-dir]: one fsbench run on the measured mount; one record per
# phase (stat recorded as exists, the row it shares with ZooKeeper).
mount_run() {
  local run=$1 column=$2 procs=$3 count=$ops file=$results status=0 rep=0 op
  shift 3
  if [[ $run == warm-up ]]; then
    count=$((warmup / procs > 0 ? warmup / procs : 1))
    file=$warmup_results
  else
    rep=${run#rep }
  fi
  rm -f "$work/fsbench.json"
  qfs_quiesce
  bench_run "$run_timeout_s" "$work/run.out" "$work/run.err" "$fsbench" "$qfs_mount" \
    --procs "$procs" --ops "$count" --create-flags trunc --label "$column" \
    --json "$work/fsbench.json" "$@" || status=$?
  if [[ -s $work/fsbench.json ]]; then
    jq -c --argjson rep "$rep" --arg column "$column" '
      .procs as $procs | .results as $results |
      ["create", "set", "get", "stat", "delete"][] as $phase |
      {key: $phase, value: $results[$phase]} | select(.value != null) |
      {rep: $rep, system: "mount", column: $column, clients: $procs,
       op: (if .key == "stat" then "exists" else .key end),
       ok: (.value.errors == 0 and .value.ops > 0), ops: .value.ops, errors: .value.errors,
       ops_per_s: .value.ops_per_s, p50_ms: (.value.p50_us / 1000), p99_ms: (.value.p99_us / 1000),
       cdf_ms: [.value.cdf_us[]? | [.[0], .[1] / 1000]]}' "$work/fsbench.json" >>"$file"
  else
    for op in create set get exists delete; do
      jq -cn --argjson rep "$rep" --arg column "$column" --argjson procs "$procs" --arg op "$op" \
        '{rep: $rep, system: "mount", column: $column, clients: $procs, op: $op, ok: false}' >>"$file"
    done
  fi
  show "$run" "$file" 5
  if ((status != 0)); then report_failure "fsbench $column" "$status"; fi
}

# port_run RUN SYSTEM COLUMN OP CLIENTS OUTSTANDING: one zkbench run, one record.
port_run() {
  local run=$1 system=$2 column=$3 op=$4 clients=$5 outstanding=$6 count=$ops file=$results
  local status=0 rep=0 target
  [[ $system == zookeeper ]] && target=$zk_target || target=$qfs_target
  if [[ $run == warm-up ]]; then count=$warmup; file=$warmup_results; else rep=${run#rep }; fi
  qfs_quiesce
  bench_run "$run_timeout_s" "$work/run.out" "$work/run.err" "$zkbench" --hosts "$target" \
    --op "$op" --clients "$clients" --outstanding "$outstanding" --ops "$count" --size 100 \
    --label "$column" || status=$?
  if grep -q '^{' "$work/run.out"; then
    grep '^{' "$work/run.out" | tail -n 1 | jq -c --argjson rep "$rep" --arg system "$system" '
      {rep: $rep, system: $system, column: .label, clients: .clients, outstanding: .outstanding,
       op: .op, ok: .ok, ops: .ops, errors: .errors, ops_per_s: .ops_per_s, p50_ms: .p50_ms,
       p99_ms: .p99_ms, cdf_ms: (.cdf_ms // [])}' >>"$file"
  else
    jq -cn --argjson rep "$rep" --arg system "$system" --arg column "$column" --arg op "$op" \
      --argjson clients "$clients" --argjson outstanding "$outstanding" \
      '{rep: $rep, system: $system, column: $column, clients: $clients, outstanding: $outstanding,
        op: $op, ok: false}' >>"$file"
  fi
  show "$run" "$file" 1
  if ((status != 0)); then report_failure "zkbench $system $column $op" "$status"; fi
}

zk_ops=(create set get exists delete)
# round RUN N: round N of a repetition (see the top); false once a member has exited.
round() {
  local run=$1 shape op system systems=(zookeeper clientport)
  local -A column_prefix=([zookeeper]=zk [clientport]=port)
  case $2 in
    1) shape=(1 1); check_alive && mount_run "$run" mount-1 1 ;;
    2) shape=(8 1); check_alive && mount_run "$run" mount-8-one-dir 8 --shared-dir ;;
    3) shape=(8 64); check_alive && mount_run "$run" mount-8-own-dirs 8 ;;
  esac
  if [[ $run == "rep "* ]] && ((${run#rep } % 2 == 0)); then systems=(clientport zookeeper); fi
  for op in "${zk_ops[@]}"; do
    for system in "${systems[@]}"; do
      check_alive || return 1
      port_run "$run" "$system" "${column_prefix[$system]}-${shape[0]}x${shape[1]}" "$op" "${shape[@]}"
    done
  done
}

warm_up() {
  local op
  check_alive || return 1
  mount_run warm-up mount-8-one-dir 8 --shared-dir
  for op in "${zk_ops[@]}"; do
    check_alive || return 1
    port_run warm-up zookeeper zk-8x64 "$op" 8 64
    port_run warm-up clientport port-8x64 "$op" 8 64
  done
}

# --- the table and the goal check, from results.jsonl
columns_json='[
  {"key": "mount-1", "title": "mount 1 proc"},
  {"key": "mount-8-one-dir", "title": "mount 8 procs one dir"},
  {"key": "mount-8-own-dirs", "title": "mount 8 procs own dirs"},
  {"key": "zk-1x1", "title": "ZooKeeper 1×1"},
  {"key": "zk-8x1", "title": "ZooKeeper 8×1"},
  {"key": "zk-8x64", "title": "ZooKeeper 8×64"},
  {"key": "port-1x1", "title": "client port 1×1"},
  {"key": "port-8x1", "title": "client port 8×1"},
  {"key": "port-8x64", "title": "client port 8×64"}]'
# shellcheck disable=SC2016  # jq's $variables, not the shell's
jq_common='
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def fmt(digits): pow(10; digits) as $scale | . * $scale | round / $scale | tostring;
  def med(column; op; f): [.[] | select(.column == column and .op == op and .ok) | f] | median;'

print_table() {
  echo "| op | | $(jq -r 'map(.title) | join(" | ")' <<<"$columns_json") |"
  echo "|---|---|$(jq -r 'map("---") | join("|")' <<<"$columns_json")|"
  jq -rs --argjson columns "$columns_json" "$jq_common"'
    def cell(runs; f; digits): [runs[] | f] as $v |
      if ($v | length) == 0 then "–"
      elif ($v | length) == 1 then $v[0] | fmt(digits)
      else ($v | median | fmt(digits)) + " (" + ($v | min | fmt(digits)) + "–" + ($v | max | fmt(digits)) + ")" end;
    . as $all |
    ["create", "set", "get", "exists", "delete"][] as $op |
    [["ops/s", "ops_per_s", 0], ["p50 ms", "p50_ms", 3], ["p99 ms", "p99_ms", 2]] | to_entries[] |
    .key as $row | .value as [$metric, $field, $digits] |
    [$columns[] | .key as $key | [$all[] | select(.column == $key and .op == $op)] as $runs |
      ([$runs[] | select(.ok | not)] | length) as $failed |
      cell([$runs[] | select(.ok)]; .[$field]; $digits) +
        (if $failed > 0 and $row == 0 then " (\($failed) failed)" else "" end)] as $cells |
    "| \(if $row == 0 then (if $op == "exists" then "exists (mount: stat)" else $op end) else "" end) | \($metric) | \($cells | join(" | ")) |"
  ' "$results"
}

print_goals() {
  echo "| goal (issue 10) | this run | goal | |"
  echo "|---|---|---|---|"
  jq -rs "$jq_common"'
    def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
    def goal(name; value; at_least; bound; unit):
      "| \(name) | " +
      (if value == null then "–" elif unit == "×" then "×" + (value | fmt(2)) else (value | fmt(3)) + " ms" end) +
      " | " + (if at_least then "≥ " else "≤ " end) +
      (if unit == "×" then "×\(bound)" else (bound | tostring | if test("[.]") then . else . + ".0" end) + " ms" end) +
      " | " + (if value == null then "not measured"
               elif (at_least and value >= bound) or ((at_least | not) and value <= bound) then "met"
               else "**not met**" end) + " |";
    def throughput(a; b; op): ratio(med(a; op; .ops_per_s); med(b; op; .ops_per_s));
    goal("mount 8 procs one dir create / ZooKeeper 8×1 create (ops/s)";
         throughput("mount-8-one-dir"; "zk-8x1"; "create"); true; 2; "×"),
    goal("mount 8 procs one dir set / ZooKeeper 8×1 set (ops/s)";
         throughput("mount-8-one-dir"; "zk-8x1"; "set"); true; 2; "×"),
    goal("mount 8 procs one dir delete / ZooKeeper 8×1 delete (ops/s)";
         throughput("mount-8-one-dir"; "zk-8x1"; "delete"); true; 1; "×"),
    goal("mount 1 proc create-write-close p50"; med("mount-1"; "create"; .p50_ms); false; 1.0; "ms"),
    goal("mount 1 proc set p50"; med("mount-1"; "set"; .p50_ms); false; 0.7; "ms"),
    goal("client port 8×64 create / ZooKeeper 8×64 create (ops/s)";
         throughput("port-8x64"; "zk-8x64"; "create"); true; 3; "×"),
    goal("client port 8×64 set / ZooKeeper 8×64 set (ops/s)";
         throughput("port-8x64"; "zk-8x64"; "set"); true; 3; "×"),
    goal("client port 8×64 delete / ZooKeeper 8×64 delete (ops/s)";
         throughput("port-8x64"; "zk-8x64"; "delete"); true; 3; "×")
  ' "$results"
}

# --- plots
plot_ops=(create set get exists delete)
# Series of throughput.png, in the order of plots.gp's titles: x (clients or processes) and column.
throughput_series_json='[
  [[1, "mount-1"], [8, "mount-8-one-dir"]],
  [[1, "mount-1"], [8, "mount-8-own-dirs"]],
  [[1, "zk-1x1"], [8, "zk-8x1"]],
  [[8, "zk-8x64"]],
  [[1, "port-1x1"], [8, "port-8x1"]],
  [[8, "port-8x64"]]]'

# Per op: plot-data/throughput-OP.dat (one block per series: x, median, min, max of ops/s) and
# plot-data/cdf-OP.dat (one block per column: latency ms, fraction; at each fraction the median
# over the repetitions). A block with no successful run holds one NaN row.
write_plot_data() {
  local op
  mkdir -p "$results_dir/plot-data"
  for op in "${plot_ops[@]}"; do
    jq -rs --arg op "$op" --argjson series "$throughput_series_json" "$jq_common"'
      . as $all | $series[] |
      [.[] | . as [$x, $column] |
       [$all[] | select(.column == $column and .op == $op and .ok) | .ops_per_s] |
       select(length > 0) | "\($x)\t\(median)\t\(min)\t\(max)"] |
      if length == 0 then "NaN\tNaN\tNaN\tNaN\n\n" else join("\n") + "\n\n" end
    ' "$results" >"$results_dir/plot-data/throughput-$op.dat"
    jq -rs --arg op "$op" --argjson columns "$columns_json" "$jq_common"'
      . as $all | $columns[] | .key as $key |
      [$all[] | select(.column == $key and .op == $op and .ok and (.cdf_ms | length) > 0) | .cdf_ms] |
      if length == 0 then "NaN\tNaN\n\n"
      else (.[0] | length) as $points | . as $runs |
        [range($points) as $i | "\([$runs[] | .[$i][1]] | median)\t\($runs[0][$i][0])"] |
        join("\n") + "\n\n" end
    ' "$results" >"$results_dir/plot-data/cdf-$op.dat"
  done
}

write_plots() {
  local terminal=png
  gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && terminal=pngcairo
  write_plot_data
  cat >"$results_dir/plots.gp" <<EOF
# Drawn by tools/bench/vs-zookeeper.sh from plot-data/; redraw with \`gnuplot plots.gp\` here.
ops = "${plot_ops[*]}"
# The sixth panel of each page holds only the key.
legend_panel = "unset title; unset xlabel; unset ylabel; unset grid; unset border; unset tics; unset logscale; set xrange [0:1]; set yrange [0:1]; set key center center"
subtitle = "$reps rep(s), --ops $ops; 3-member ensembles on 127.0.0.1, fsync on; $(date +%F)"
set terminal $terminal size 1500,950
set datafile separator "\t"
# mount: greens, ZooKeeper: reds, client port: blues (in both plots); here solid 1 in flight or
# 1 -> 8 procs in one dir, dashed 64 in flight or 1 -> 8 procs in own dirs.
set style line 1 lc rgb "#1b7837" lw 2 pt 7 dt 1
set style line 2 lc rgb "#5aae61" lw 2 pt 5 dt 2
set style line 3 lc rgb "#b2182b" lw 2 pt 7 dt 1
set style line 4 lc rgb "#ef8a62" lw 2 pt 9 dt 2
set style line 5 lc rgb "#2166ac" lw 2 pt 7 dt 1
set style line 6 lc rgb "#67a9cf" lw 2 pt 9 dt 2
array throughput_titles[6] = ["mount, 1 proc -> 8 procs in one dir", "mount, 1 proc -> 8 procs in own dirs", \\
  "ZooKeeper, 1 in flight per client", "ZooKeeper, 64 in flight per client", \\
  "client port, 1 in flight per client", "client port, 64 in flight per client"]
array cdf_titles[9] = [$(jq -r 'map("\"" + .title + "\"") | join(", ")' <<<"$columns_json")]
op_title(op) = op eq "exists" ? "exists (mount: stat)" : op

set output "throughput.png"
set multiplot layout 2,3 title "ops/s against clients (ZooKeeper, client port) or processes (mount): median, bars min-max\n".subtitle
set logscale x 2
set logscale y
set xrange [0.8:10]
set xtics ("1" 1, "8" 8)
set xlabel "clients or processes"
set ylabel "ops/s"
set grid
unset key
do for [op in ops] {
  set title op_title(op)
  plot for [i=0:5] sprintf("plot-data/throughput-%s.dat", op) index i using 1:2:3:4 with yerrorlines ls (i + 1)
}
@legend_panel
plot 2 notitle, for [i=1:6] keyentry with linespoints ls i title throughput_titles[i]
unset multiplot

# reset keeps variables and functions, not styles.
reset
set terminal $terminal size 1500,950
set datafile separator "\t"
# solid 1 proc or 1×1, dashed 8 procs in one dir or 8×1, dotted 8 procs in own dirs or 8×64.
set style line 11 lc rgb "#1b7837" lw 2 dt 1
set style line 12 lc rgb "#1b7837" lw 2 dt 2
set style line 13 lc rgb "#5aae61" lw 2 dt 3
set style line 14 lc rgb "#b2182b" lw 2 dt 1
set style line 15 lc rgb "#b2182b" lw 2 dt 2
set style line 16 lc rgb "#ef8a62" lw 2 dt 3
set style line 17 lc rgb "#2166ac" lw 2 dt 1
set style line 18 lc rgb "#2166ac" lw 2 dt 2
set style line 19 lc rgb "#67a9cf" lw 2 dt 3
set output "latency-cdf.png"
set multiplot layout 2,3 title "latency CDF (at each fraction the median over the repetitions)\n".subtitle
set logscale x
set yrange [0:1]
set xlabel "latency (ms)"
set ylabel "fraction of requests"
set grid
unset key
do for [op in ops] {
  set title op_title(op)
  plot for [i=0:8] sprintf("plot-data/cdf-%s.dat", op) index i using 1:2 with lines ls (11 + i)
}
@legend_panel
plot 2 notitle, for [i=1:9] keyentry with lines ls (10 + i) title cdf_titles[i]
unset multiplot
EOF
  if (cd "$results_dir" && gnuplot plots.gp) 2>"$work/gnuplot.err"; then
    echo "plots: $results_dir/throughput.png $results_dir/latency-cdf.png"
  else
    say "gnuplot failed (the table stands):"
    tail -n 20 "$work/gnuplot.err" >&2
  fi
}

# --- main
start_systems
if ((warmup > 0)); then warm_up || true; fi
for ((rep = 1; rep <= reps && ${#stopped} == 0; rep++)); do
  for round_number in 1 2 3; do round "rep $rep" "$round_number" || break; done
done
[[ $(zk_mode "$zk_id") == follower ]] || say "warning: ZooKeeper $zk_id is no longer a follower ($(zk_mode "$zk_id"))"
[[ $(qfs_role "$qfs_id") == following ]] || say "warning: quorumfs member $qfs_id is no longer following ($(qfs_role "$qfs_id"))"

[[ -s $results ]] || { say "no run produced a result"; exit 1; }
{
  echo "## quorumfs against ZooKeeper 3.8 (tools/bench/vs-zookeeper.sh)"
  echo
  echo "$(date '+%F %H:%M'), $(nproc) CPUs, load average before the run $load_before; $reps repetition(s),"
  echo "--ops $ops per process or client, 100 B per file or node; medians with min–max over the repetitions."
  echo "mount: fsbench on a quorumfs follower's mount (create = open O_CREAT|O_TRUNC + write + close);"
  echo "ZooKeeper, client port: zkbench at clients×outstanding through a follower."
  echo
  print_table
  echo
  print_goals
  [[ -z $stopped ]] || { echo; echo "Measurements stopped early: $stopped"; }
  echo
  echo "reproduce: $reproduce"
} >"$results_dir/table.md"
echo
cat "$results_dir/table.md"
echo
echo "table: $results_dir/table.md"
if [[ $plots == yes ]]; then write_plots; fi
[[ -z $stopped ]]
