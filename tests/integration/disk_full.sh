#!/usr/bin/env bash
# A full disk under the data dir: writes and syncs fail with ENOSPC ("No space left on device") and
# change nothing, the root says user.zk.state=unsynced, reads keep working, the daemon stays up; once space is back, writes go on, and a
# restart finds every acknowledged write. The data dir is a small tmpfs; the log grows its files
# in 64 KiB steps (preAllocSize) so that it runs out quickly.
source "$(dirname "$0")/lib.sh"

small=$TEST_TMP/small
mkdir -p "$small"
mount -t tmpfs -o size=16m tmpfs "$small" || fatal "cannot mount a tmpfs"
echo "$small" >>"$MOUNTS_FILE"  # unmounted at the end (after the daemons stop)
cat >"$TEST_TMP/node.cfg" <<CFG
dataDir=$small/data
preAllocSize=64
writeTimeout=2000
server.1=127.0.0.1:$((20000 + RANDOM % 20000)):1
CFG
start_disk_node() { launch_node n --config "$TEST_TMP/node.cfg" "$(mnt_of n)"; }
start_disk_node || fatal "could not start the node"
M=$(mnt_of n)

put "$M/before" kept || fail "a write before the disk filled"
dd if=/dev/zero of="$small/filler" bs=64k status=none 2>/dev/null  # until the tmpfs is full
failed_at=0
for ((i = 1; i <= 3000; i++)); do
  if ! put "$M/fill-$i" "$(printf '%0200d' "$i")" 2>"$TEST_TMP/put.err"; then
    failed_at=$i
    break
  fi
done
((failed_at > 0)) || fatal "3000 writes went through on a full disk"
log "the first write that failed: fill-$failed_at ($(cat "$TEST_TMP/put.err"))"
expect_errno "printf x > '$M/refused'" "No space left on device"
expect_absent "$M/refused"
expect_errno "mkdir '$M/refused-dir'" "No space left on device"
expect_absent "$M/refused-dir"
expect_content "$M/before" kept
expect_true "the listing still works" ls "$M"
expect_true "the daemon is still running" kill -0 "$(pid_of n)"
expect_errno "sync '$M/before'" "No space left on device"
expect_eq "its root says so" unsynced "$(xattr "$M" user.zk.state)"

rm -f "$small/filler"
wait_for 10 put "$M/after" again || fail "writes did not resume once space was back"
expect_content "$M/after" again
expect_eq "synced again" synced "$(xattr "$M" user.zk.state)"
stop_node n || fail "the node did not stop cleanly"
start_disk_node || fatal "could not restart the node"
expect_content "$M/before" kept
expect_content "$M/after" again
expect_content "$M/fill-1" "$(printf '%0200d' 1)"

finish
