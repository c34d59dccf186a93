#!/usr/bin/env bash
# Watches are inotify events (docs/guarantees.md §5): local operations on the mount raise exactly
# the events a local file system raises — create, modify + close_write, delete, moved_from/moved_to,
# attrib — once each and in order; a one-shot inotifywait ends on the first event.
source "$(dirname "$0")/lib.sh"

must_start_node a
M=$(mnt_of a)
W=$M/inotify
mkdir -p "$W/watched" || fatal "mkdir $W/watched failed"
echo pre >"$W/watched/pre"

# start_watch NAME ARGS...: inotifywait -m in the background, waits for "Watches established".
start_watch() {
  local name=$1
  shift
  : >"$TEST_TMP/$name.err"
  inotifywait -m --format '%e %f' "$@" >"$TEST_TMP/$name.events" 2>"$TEST_TMP/$name.err" &
  local pid=$!
  track_pid "$pid"
  eval "WATCH_PID_$name=$pid"
  if ! wait_for 10 grep -q "Watches established" "$TEST_TMP/$name.err"; then
    fatal "inotifywait ($name) did not establish its watch: $(cat "$TEST_TMP/$name.err")"
  fi
}

# expect_events NAME EXPECTED_LINES...: waits (<= 5 s) for the last expected line, then compares.
expect_events() {
  local name=$1
  shift
  local expected last=${*: -1}
  # The kernel merges an event identical to the last one still queued, so compare with runs of
  # identical lines collapsed.
  expected=$(printf '%s\n' "$@" | uniq)
  wait_for 5 grep -qxF "$last" "$TEST_TMP/$name.events" || true
  sleep 0.3 # let stragglers (duplicates) arrive before comparing
  local seen
  seen=$(uniq "$TEST_TMP/$name.events")
  if [[ $seen == "$expected" ]]; then
    pass "events on $name"
  else
    fail "events on $name differ (< expected, > seen):"
    diff <(echo "$expected") <(echo "$seen") >&2
  fi
}

events=create,modify,close_write,delete,delete_self,moved_from,moved_to,attrib
start_watch dir -e "$events" "$W/watched"
echo a >"$W/watched/f"
echo b >>"$W/watched/f"
mv "$W/watched/f" "$W/watched/g"
rm "$W/watched/g"
mkdir "$W/watched/sub"
rmdir "$W/watched/sub"
chmod 600 "$W/watched/pre"
setfattr -n user.zk.acl -v world:anyone:cdrwa "$W/watched/pre"
touch "$W/watched/end"
expect_events dir \
  "CREATE f" "MODIFY f" "CLOSE_WRITE,CLOSE f" \
  "MODIFY f" "CLOSE_WRITE,CLOSE f" \
  "MOVED_FROM f" "MOVED_TO g" \
  "DELETE g" \
  "CREATE,ISDIR sub" "DELETE,ISDIR sub" \
  "ATTRIB pre" "ATTRIB pre" \
  "CREATE end" "ATTRIB end" "CLOSE_WRITE,CLOSE end"

# A watch on the file itself: data change, attribute change, delete.
echo one >"$W/watched/self"
start_watch file -e "$events" "$W/watched/self"
echo two >"$W/watched/self" # O_TRUNC of an existing file is a MODIFY of its own
chmod 640 "$W/watched/self"
rm "$W/watched/self"
expect_events file "MODIFY " "MODIFY " "CLOSE_WRITE,CLOSE " "ATTRIB " "ATTRIB " "DELETE_SELF "

# One-shot (ZooKeeper's watch): ends with the first event.
: >"$TEST_TMP/oneshot.err"
inotifywait -e create --format '%e %f' "$W/watched" >"$TEST_TMP/oneshot.out" 2>"$TEST_TMP/oneshot.err" &
oneshot=$!
track_pid "$oneshot"
wait_for 10 grep -q "Watches established" "$TEST_TMP/oneshot.err" ||
  fail "one-shot inotifywait did not start: $(cat "$TEST_TMP/oneshot.err")"
echo x >"$W/watched/trigger"
if wait_pid_exit "$oneshot" 5; then
  expect_eq "one-shot inotifywait status and event" "0 CREATE trigger" "$WAITED_STATUS $(cat "$TEST_TMP/oneshot.out")"
else
  fail "one-shot inotifywait still waiting 5 s after a create in its directory"
fi

# Ephemerals deleted by the daemon (their holder closed or was killed) raise the events of a local
# delete too: the membership recipe watches for them.
mkdir -m 2755 "$W/members"
start_watch members -e create,delete,delete_self "$W/members"
exec 3>"$W/members/closed"
exec 3>&-
# (the echo of a daemon-made delete follows its commit; a later local create may be announced
# before it, so wait for it here to keep the expected order)
wait_for 5 grep -qx "DELETE closed" "$TEST_TMP/members.events" || true
sleep 30 3>"$W/members/killed" &
holder=$!
track_pid "$holder"
wait_for 5 test -e "$W/members/killed" || fail "ephemeral member/killed was not created"
kill -9 "$holder"
expect_events members "CREATE closed" "DELETE closed" "CREATE killed" "DELETE killed"
# (the holder is a separate process: inotifywait would inherit a descriptor of this shell's)
sleep 30 3>"$W/members/self" &
holder=$!
track_pid "$holder"
wait_for 5 test -e "$W/members/self" || fail "ephemeral member/self was not created"
start_watch member_self -e delete_self "$W/members/self"
kill -9 "$holder"
expect_events member_self "DELETE_SELF "

# A sequential create is also announced under its real name (by the echo).
mkdir -m 1755 "$W/queue"
start_watch queue -e create "$W/queue"
echo item >"$W/queue/job-"
mkdir "$W/queue/dir-"
expect_events queue "CREATE job-" "CREATE job-0000000000" "CREATE,ISDIR dir-" "CREATE,ISDIR dir-0000000001"

# Ephemeral-sequential nodes created and closed at once (the lock and election recipes): each is
# announced under its real name, created and then deleted.
mkdir -m 3755 "$W/election"
chmod 3755 "$W/election"
start_watch election -e create,delete "$W/election"
python3 -c '
import os, sys
for _ in range(20):
    os.close(os.open(sys.argv[1] + "/n-", os.O_CREAT | os.O_WRONLY))' "$W/election"
wait_for 5 lines_at_least 20 '^DELETE n-0' "$TEST_TMP/election.events" || true
expect_eq "real-name CREATE events of 20 quick ephemerals" 20 "$(grep -c '^CREATE n-0' "$TEST_TMP/election.events")"
expect_eq "DELETE events of 20 quick ephemerals" 20 "$(grep -c '^DELETE n-0' "$TEST_TMP/election.events")"

# Recursive: events from a subdirectory.
mkdir "$W/tree"
start_watch recursive -r -e create "$W/tree"
mkdir "$W/tree/a"
sleep 0.3 # inotifywait -r adds the new directory's watch after seeing its CREATE
echo deep >"$W/tree/a/deep"
expect_events recursive "CREATE,ISDIR a" "CREATE deep"

finish
