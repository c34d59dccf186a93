#!/usr/bin/env bash
# A write that returned success survives a crash (docs/guarantees.md §2): 200 acknowledged files
# survive kill -9 of the daemon and a restart on the same data dir; a clean SIGTERM restart keeps
# everything too; `fusermount3 -u` stops the daemon (docs/guarantees.md §8).
source "$(dirname "$0")/lib.sh"

files=200

must_start_node a
M=$(mnt_of a)

# --- 200 acknowledged writes (dd reports close(2), where the write is committed)
mkdir -p "$M/dur/sub" || fatal "mkdir failed"
chmod 750 "$M/dur/sub"
acknowledged=0
for i in $(seq 1 $files); do
  if put "$M/dur/file-$i" "content $i $RANDOM$RANDOM"; then
    acknowledged=$((acknowledged + 1))
    # remember what was acknowledged, on local disk
    cat "$M/dur/file-$i" >"$TEST_TMP/expected-$i"
  fi
done
expect_eq "acknowledged writes" $files $acknowledged
echo "nested" >"$M/dur/sub/nested"
setfattr -n user.zk.data -v "dir data" "$M/dur/sub"
echo overwritten-once >"$M/dur/over"
echo overwritten-twice >"$M/dur/over"
rm "$M/dur/file-1"
rm "$TEST_TMP/expected-1"
mtime_before=$(stat -c %Y "$M/dur/file-2")
czxid_before=$(xattr "$M/dur/file-2" user.zk.czxid)
entries=$((files - 1 + 2)) # file-2..file-200, sub, over

# check_everything WHEN: every acknowledged file is back with its content.
check_everything() {
  local when=$1 missing=0 wrong=0 i
  for i in $(seq 2 $files); do
    [[ -f $TEST_TMP/expected-$i ]] || continue
    if [[ ! -e $M/dur/file-$i ]]; then
      missing=$((missing + 1))
    elif ! cmp -s "$TEST_TMP/expected-$i" "$M/dur/file-$i"; then
      wrong=$((wrong + 1))
      ((wrong <= 3)) && log "$when: file-$i holds [$(cat "$M/dur/file-$i")], expected [$(cat "$TEST_TMP/expected-$i")]"
    fi
  done
  expect_eq "$when: files missing / with wrong content" "0 / 0" "$missing / $wrong"
  expect_absent "$M/dur/file-1"
  expect_content "$M/dur/sub/nested" nested
  expect_content "$M/dur/over" overwritten-twice
  expect_eq "$when: directory data" "dir data" "$(xattr "$M/dur/sub" user.zk.data)"
  expect_eq "$when: mode of dur/sub" 750 "$(stat -c %a "$M/dur/sub")"
  expect_eq "$when: mtime of file-2" "$mtime_before" "$(stat -c %Y "$M/dur/file-2")"
  expect_eq "$when: czxid of file-2" "$czxid_before" "$(xattr "$M/dur/file-2" user.zk.czxid)"
  expect_eq "$when: number of entries in dur" "$entries" "$(ls -A "$M/dur" | wc -l)"
}

# --- crash: kill -9, the mount goes (auto_unmount), restart, everything is there
daemon_pid=$(pid_of a)
kill -KILL "$daemon_pid"
wait_pid_exit "$daemon_pid" 10 || fail "daemon still alive 10 s after kill -9"
if wait_unmounted "$M" 5; then
  pass "auto_unmount removed the mount after kill -9"
else
  fail "mount $M still there 5 s after kill -9 of the daemon (auto_unmount); forcing"
  fusermount3 -u -z "$M" 2>/dev/null
fi
NODE_PID[a]=
must_start_node a
check_everything "after kill -9 and restart"

# writes after the crash-restart work and survive too
put "$M/dur/after-crash" "after crash" || fail "write after the restart failed"
entries=$((entries + 1))

# --- clean stop with SIGTERM, restart
if stop_node a TERM; then
  expect_eq "exit status after SIGTERM" 0 "$STOP_STATUS"
else
  fail "daemon did not stop cleanly on SIGTERM within 10 s (status $STOP_STATUS)"
fi
must_start_node a
check_everything "after SIGTERM and restart"
expect_content "$M/dur/after-crash" "after crash"

# --- fusermount3 -u stops the daemon
daemon_pid=$(pid_of a)
expect_ok "fusermount3 -u '$M'"
if wait_pid_exit "$daemon_pid" 10; then
  pass "daemon exited after fusermount3 -u"
  expect_eq "exit status after fusermount3 -u" 0 "$WAITED_STATUS"
else
  fail "daemon still running 10 s after fusermount3 -u"
fi
NODE_PID[a]=
if is_mounted "$M"; then fail "$M still mounted after fusermount3 -u"; else pass "unmounted"; fi
must_start_node a
check_everything "after fusermount3 -u and restart"
stop_node a || fail "daemon did not stop cleanly at the end"

finish
