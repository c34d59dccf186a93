#!/usr/bin/env bash
# quorumfs-datadir on a stopped node's data dir: `list` shows epochs, snapshots and every log
# record (zxid, type, path) and names damage with its offset; `cut` shows what it would remove,
# refuses while the daemon runs, and with --yes leaves a log the daemon starts from.
source "$(dirname "$0")/lib.sh"

TOOL=$(dirname "$QUORUMFS_BIN")/quorumfs-datadir
[[ -x $TOOL ]] || fatal "$TOOL is not built"
must_start_node a
M=$(mnt_of a)
D=$(data_of a)
# Each `>` of a new file is ONE create with its data; the second write of f5 is a setData.
for i in 1 2 3 4 5; do put "$M/f$i" "value $i" || fail "write f$i"; done
put "$M/f5" "value 5, again" || fail "write f5 again"
mkdir "$M/dir" || fail "mkdir"

expect_errno "'$TOOL' cut '$D' 1 --yes" "in use by a running quorumfs"
stop_node a || fail "clean stop"

run_shell "'$TOOL' list '$D'"
expect_eq "list exit status" 0 "$RUN_STATUS"
expect_match "the epochs" "epochs +accepted 1, current 1" "$RUN_OUTPUT"
expect_match "a create with its path" "0x00000001000000[0-9a-f]{2}  create +/f3" "$RUN_OUTPUT"
expect_match "a data write" "setData +/f5" "$RUN_OUTPUT"
expect_match "a mkdir" "mkdir +/dir" "$RUN_OUTPUT"
expect_match "the applied mark" "applied +0x0000000100000" "$RUN_OUTPUT"

# Damage the record that creates /f4: later records follow it, so the daemon refuses to start.
segment=$(find "$D/log" -name 'log.*' | head -n 1)
offset=$(grep -a -b -o '/f4' "$segment" | head -n 1 | cut -d: -f1)
printf 'X' | dd of="$segment" bs=1 seek="$((offset + 1))" conv=notrunc status=none
if start_node a; then fail "the daemon started on a damaged log"; stop_node a; else pass "the daemon refuses a damaged log"; fi
expect_match "it says where" "corrupt record at offset" "$(tail -n 5 "$(log_of a)")"

run_shell "'$TOOL' list '$D'"
expect_eq "list of a damaged log exits 3" 3 "$RUN_STATUS"
expect_match "list names the damage" "damaged at offset [0-9]+: checksum mismatch" "$RUN_OUTPUT"
last_good=$(grep -B1 'damaged at offset' <<<"$RUN_OUTPUT" | head -n 1 | cut -d' ' -f1)
log "the last good record: $last_good"

run_shell "'$TOOL' cut '$D' $last_good"
expect_match "a dry run lists what would go" "would remove these records" "$RUN_OUTPUT"
run_shell "'$TOOL' cut '$D' not-a-zxid"
expect_eq "a bad zxid exits 2" 2 "$RUN_STATUS"
run_shell "'$TOOL' cut '$D' 0x100000001 --yes"
expect_eq "a cut below the applied mark is refused" 1 "$RUN_STATUS"
expect_match "it says why" "below-applied" "$RUN_OUTPUT"
run_shell "'$TOOL' cut '$D' $last_good --yes"
expect_eq "cut exit status" 0 "$RUN_STATUS"
must_start_node a
expect_content "$M/f3" "value 3"
expect_absent "$M/f5"
put "$M/after-cut" ok || fail "a write after the cut"
stop_node a || fail "clean stop"
finish
