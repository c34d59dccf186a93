#!/usr/bin/env bash
# fuse-requests.sh: what one file operation costs in FUSE requests, on the mount it was made on
# and on every other member's mount (the echo, docs/kernel.md "Echo requests"), and how long each
# kind of request waited for its answer. fsbench writes through a follower's mount of a 3-member
# loopback ensemble (fsync on); perf records the kernel's fuse:fuse_request_send and
# fuse:fuse_request_end tracepoints (as root, on a kernel that has them: this machine's 6.18
# does, Debian 12's own 6.1 does not). Each request counts for the fsbench phase during which
# it was sent (fsbench --pause lets the echoes of a phase end before the next one starts).
#
#   $ tools/bench/fuse-requests.sh --procs 8 --ops 500
#   fuse-requests.sh: fsbench --procs 8 --ops 500 --shared-dir through follower 1 (leader 3)
#   phase   mount          opcode        per_op  p50_us  p90_us
#   create  writer (1)     LOOKUP          1.00    28.0   244.0
#   create  writer (1)     CREATE          1.00    25.0   248.0
#   ...
#   create  writer (1)     all             6.92
#   create  leader (3)     LOOKUP          1.00    37.0   254.0
#   ...
#
# per_op: requests of that opcode on that mount per operation of the phase (fsbench's ops of all
# processes); p50/p90: time from the request's send to its answer (the daemon's turn around,
# waiting for the loop included). "writer" is the mount fsbench used; "leader" and "follower"
# are the others, which see each change as another host's and echo it.
#
# Options:
#   --procs N          fsbench processes (default 8)
#   --ops M            files per process and phase (default 500)
#   --own-dirs         one directory per process (default: all in one directory)
#   --create-flags F   excl or trunc (default trunc, as the shell's `echo x > new`)
#   --pause S          seconds between phases (default 0.3; the entry timeout is 1 s)
#   --tick-ms MS, --run-timeout S, --build DIR, --out DIR (as zk-ensemble.sh); --reps is ignored
set -euo pipefail

bench_name=fuse-requests.sh
source "$(dirname "${BASH_SOURCE[0]}")/zk-ensemble.sh"
procs=8
ops=500
shared=yes
create_flags=trunc
pause_s=0.3
while (($#)); do
  case $1 in
    --procs) procs=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --own-dirs) shared=no; shift ;;
    --create-flags) create_flags=$2; shift 2 ;;
    --pause) pause_s=$2; shift 2 ;;
    *) bench_parse_option "$@"; shift "$bench_shift" ;;
  esac
done
((EUID == 0)) || { say "needs root (kernel tracepoints)"; exit 1; }
bench_packages+=(linux-perf)
bench_check_tools
tracefs=/sys/kernel/tracing
[[ -d $tracefs/events ]] || mount -t tracefs nodev "$tracefs" 2>/dev/null || true
if [[ ! -d $tracefs/events/fuse/fuse_request_send ]]; then
  say "this kernel ($(uname -r)) has no fuse:fuse_request_send tracepoint"
  exit 1
fi
[[ -x $build/tools/bench/fsbench ]] || bench_build_tool fsbench
bench_start_work

qfs_start
qfs_wait_mounted
for _ in $(seq 200); do follower=$(qfs_follower); [[ -n $follower && -n $(qfs_leader) ]] && break; sleep 0.05; done
leader=$(qfs_leader)
[[ -n $follower && -n $leader ]] || { say "no leader and follower after 10 s"; exit 1; }
mnt=$work/q$follower/mnt
for _ in $(seq 200); do echo x >"$mnt/.probe" 2>/dev/null && break; sleep 0.05; done

# The tracepoints name a mount by its FUSE connection, the minor number of its device. Each
# line of roles: connection, rank (the order of the output), the mount's name.
for id in 1 2 3; do
  rank="2 follower"
  [[ $id == "$follower" ]] && rank="0 writer"
  [[ $id == "$leader" ]] && rank="1 leader"
  echo "$(mountpoint -d "$work/q$id/mnt" | cut -d: -f2) $rank ($id)"
done >"$work/roles"

args=("$mnt" --procs "$procs" --ops "$ops" --create-flags "$create_flags" --pause "$pause_s" --json "$work/fsbench.json")
[[ $shared == yes ]] && args+=(--shared-dir)
say "fsbench --procs $procs --ops $ops$([[ $shared == yes ]] && echo " --shared-dir") through follower $follower (leader $leader)"
bench_run "$run_timeout_s" "$work/perf.out" "$work/perf.err" \
  perf record -k mono -e fuse:fuse_request_send -e fuse:fuse_request_end -a -o "$work/perf.data" -- \
  "$build/tools/bench/fsbench" "${args[@]}" || { say "fsbench or perf failed: $(tail -3 "$work/perf.err")"; exit 1; }
cat "$work/perf.out" >&2

# Each phase's window: from its start to its end plus the pause, and its op count.
jq -r --argjson pause_s "$pause_s" \
  '.results | to_entries | map(select(.value.ops > 0)) | sort_by(.value.start_ns)[] | "\(.key) \(.value.start_ns) \(.value.end_ns + ($pause_s * 1e9 | floor)) \(.value.ops)"' \
  "$work/fsbench.json" >"$work/phases"

# One line per answered request: phase's rank, phase, mount's rank, opcode, µs from send to answer.
perf script -i "$work/perf.data" --ns -F time,event,trace 2>/dev/null | awk '
  FILENAME == ARGV[1] { start[$1] = $2; end[$1] = $3; order[++phases] = $1; next }
  FILENAME == ARGV[2] { rank[$1] = $2; next }
  {
    t = $1; sub(/:$/, "", t); split(t, part, "."); ns = part[1] * 1000000000 + part[2]
    for (i = 1; i <= NF; i++) { if ($i == "connection") connection = $(i + 1); if ($i == "req") req = $(i + 1) }
    key = connection " " req
    if ($2 ~ /fuse_request_send/) {
      opcode = $0; sub(/.*\(FUSE_/, "", opcode); sub(/\).*/, "", opcode)
      sent[key] = ns; op[key] = opcode
    } else if (key in sent) {
      for (p = 1; p <= phases; p++) {
        name = order[p]
        if (sent[key] >= start[name] && sent[key] < end[name]) { print p, name, rank[connection], op[key], (ns - sent[key]) / 1000; break }
      }
      delete sent[key]; delete op[key]
    }
  }' "$work/phases" "$work/roles" - >"$work/requests"

echo "phase   mount          opcode        per_op  p50_us  p90_us"
sort -k1,1n -k3,3n -k4,4 -k5,5n "$work/requests" | awk -v roles="$work/roles" -v phases="$work/phases" '
  BEGIN {
    while ((getline line < roles) > 0) { split(line, f, " "); role[f[2]] = f[3] " " f[4] }
    while ((getline line < phases) > 0) { split(line, f, " "); ops[f[1]] = f[4] }
  }
  function flush_opcode() {
    if (n == 0) return
    printf "%-7s %-14s %-12s %7.2f %7.1f %7.1f\n", phase, role[mount], opcode, n / ops[phase], lat[int((n - 1) * 0.5) + 1], lat[int((n - 1) * 0.9) + 1]
    total += n; n = 0
  }
  function flush_mount() {
    flush_opcode()
    if (total > 0) printf "%-7s %-14s %-12s %7.2f\n", phase, role[mount], "all", total / ops[phase]
    total = 0
  }
  {
    if ($2 != phase || $3 != mount) { flush_mount(); phase = $2; mount = $3; opcode = $4 }
    else if ($4 != opcode) { flush_opcode(); opcode = $4 }
    lat[++n] = $5
  }
  END { flush_mount() }'
