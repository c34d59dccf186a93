#!/usr/bin/env bash
# Snapshots are taken in the background and the log is cleaned behind them (docs/architecture.md):
# with a snapshot every 50 txns, writing 400 files leaves at most 3 snapshots and no log segment
# that a kept snapshot covers; kill -9 and a restart give back every file (snapshot + log replay).
source "$(dirname "$0")/lib.sh"

must_start_node a --snapshot-every 50
M=$(mnt_of a)
D=$(data_of a)

for i in $(seq 1 400); do
  put "$M/f$i" "value $i" || fail "write of f$i was not acknowledged"
done
echo last >"$M/last"

wait_for 10 compgen -G "$D/snapshot.*" >/dev/null || fail "no snapshot was written"
# A fourth exists for a moment: from when a new one is complete until the oldest is deleted.
snapshot_count() { find "$D" -maxdepth 1 -name 'snapshot.*' ! -name '*.tmp' | wc -l; }
at_most_three() { (($(snapshot_count) <= 3)); }
wait_for 10 at_most_three
snapshots=$(snapshot_count)
expect_true "at most 3 snapshots kept (saw $snapshots)" test "$snapshots" -le 3
oldest=$(find "$D" -maxdepth 1 -name 'snapshot.*' ! -name '*.tmp' -printf '%f\n' | sort | head -n 1)
oldest_zxid=$((16#${oldest#snapshot.}))
# A segment is named by its first zxid; every segment but the newest holds only zxids below the next
# one's name. None that ends at or below the oldest kept snapshot may remain.
mapfile -t segments < <(find "$D/log" -name 'log.*' -printf '%f\n' | sort)
stale=0
for ((i = 0; i + 1 < ${#segments[@]}; i++)); do
  next_first=$((16#${segments[i + 1]#log.}))
  ((next_first - 1 <= oldest_zxid)) && stale=$((stale + 1))
done
expect_eq "log segments covered by the oldest snapshot left behind" 0 "$stale"

kill -9 "$(pid_of a)"
wait_unmounted "$M" 10 || fusermount3 -u -z "$M" 2>/dev/null
must_start_node a --snapshot-every 50
wrong=0
for i in $(seq 1 400); do
  [[ $(cat "$M/f$i" 2>/dev/null) == "value $i" ]] || wrong=$((wrong + 1))
done
expect_eq "files wrong or missing after kill -9 and restart" 0 "$wrong"
expect_content "$M/last" "last"
expect_match "restart loaded a snapshot" "recovered 40[0-9] nodes at zxid" "$(cat "$(log_of a)")"

# Snapshots also come after so many bytes of log (snapSizeLimitInKb), whatever the txn count: 40
# writes of 2000 bytes pass 50 000 bytes long before a million txns.
must_start_node b --snapshot-every 1000000 --snapshot-every-bytes 50000
value=$(printf '%02000d' 7)
for i in $(seq 1 40); do put "$(mnt_of b)/big$i" "$value" || fail "write of big$i"; done
wait_for 10 compgen -G "$(data_of b)/snapshot.*" >/dev/null || fail "no snapshot after 80 kB of log"
stop_node a || fail "clean stop"
finish
