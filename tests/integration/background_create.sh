#!/usr/bin/env bash
# Creates in the background (docs/mount.md, "Creates in the background"): `echo x > new` is ONE
# create with its data; until the creator's close orders it, only the creating process and its
# descendants see the name; another host's create of the same name wins and the close writes to
# it; a directory removed meanwhile makes the close fail with ENOENT and nothing is created.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3 0
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b)
mkdir "$A/bg" || fatal "mkdir bg"
PY=/usr/bin/python3

# stat field of a node as another host sees it after a sync
zk_stat() { sync "$(dirname "$2")" 2>/dev/null; xattr "$2" "user.zk.$1"; }

# --- `echo x > new`: one txn, version 0, with its data, on every host
echo hello >"$A/bg/one"
expect_eq "content on b" "hello" "$(synced_content b bg/one)"
expect_eq "version on b" 0 "$(zk_stat version "$B/bg/one")"
expect_eq "created and written by one txn (czxid = mzxid)" "$(zk_stat czxid "$B/bg/one")" "$(zk_stat mzxid "$B/bg/one")"

# --- futimens and fchmod before the close travel with the create: still ONE txn (the next
# create's zxid follows it directly)
$PY - "$A/bg" <<'PY' || fail "futimens script"
import os, sys
fd = os.open(sys.argv[1] + "/timed", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"t")
os.utime(fd, (981173106, 981173106))
os.fchmod(fd, 0o600)
os.close(fd)
fd = os.open(sys.argv[1] + "/next", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.close(fd)
PY
expect_eq "the create with times and mode took one zxid" 1 "$(($(zk_stat czxid "$A/bg/next") - $(zk_stat czxid "$A/bg/timed")))"
expect_eq "its mtime and mode, seen on b" "981173106 600" "$(sync "$B/bg"; stat -c '%Y %a' "$B/bg/timed")"

# --- once the create is applied, the creator's descriptor shows the node's attributes, not the
# ones its open was answered with (cached by the kernel until the create drops them)
fresh_mtime=$($PY - "$A/bg/fsynced" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
time.sleep(0.05)
os.fsync(fd)
print(os.fstat(fd).st_mtime_ns)
os.close(fd)
PY
) || fail "fsync script"
expect_eq "the creator's fstat after its fsync shows the committed mtime" \
  "$(sync "$B/bg"; stat -c %.9Y "$B/bg/fsynced" | tr -d .)" "$fresh_mtime"

# --- before its close, only the creator (and its children) see the file. (The creators are
# python: in bash, a builtin's `>&3` dup2s the descriptor and closes it again, which commits.)
cat >"$TEST_TMP/holder.py" <<'PY'
import os, subprocess, sys, time
path, data, ready, go, child_output = sys.argv[1:6]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data.encode())
if child_output != "-":
    # Inherited, so that no close-on-exec closes (and commits) it before the child looks.
    os.set_inheritable(fd, True)
    with open(child_output, "w") as out:  # a child of the creator looks
        subprocess.run(["stat", "-c", "%s", path], stdout=out, stderr=subprocess.STDOUT, close_fds=False)
        subprocess.run(["ls", os.path.dirname(path)], stdout=out, stderr=subprocess.STDOUT, close_fds=False)
open(ready, "w").close()
for _ in range(400):
    if os.path.exists(go): break
    time.sleep(0.025)
try:
    os.close(fd)
    print("closed")
except OSError as error:
    print("close failed:", os.strerror(error.errno))
PY
go=$TEST_TMP/go
$PY "$TEST_TMP/holder.py" "$A/bg/pending" data "$TEST_TMP/ready1" "$go" "$TEST_TMP/child-view" >"$TEST_TMP/holder1" 2>&1 &
track_pid "$!"
holder1=$!
$PY "$TEST_TMP/holder.py" "$A/bg/hidden" secret "$TEST_TMP/ready2" "$go" - >"$TEST_TMP/holder2" 2>&1 &
track_pid "$!"
holder2=$!
wait_for 10 test -e "$TEST_TMP/ready1" -a -e "$TEST_TMP/ready2" || fatal "the holders did not open"
expect_eq "the creator's child sees the file, empty, and lists it" "0;pending;" "$(grep -x -e 0 -e pending "$TEST_TMP/child-view" | tr '\n' ';')"
expect_eq "another process here does not list it" "" "$(ls "$A/bg" | grep -x hidden)"
expect_fail "test -e '$A/bg/hidden'"  # another process here does not find it
expect_fail "sync '$B/bg'; test -e '$B/bg/hidden'"  # nor another host
touch "$go"
wait "$holder1" "$holder2"
expect_eq "the holders' closes" "closed closed" "$(cat "$TEST_TMP/holder1") $(cat "$TEST_TMP/holder2")"
expect_eq "after the close, another host reads it" "secret" "$(synced_content b bg/hidden)"
expect_eq "one txn: created with its data" "$(zk_stat czxid "$B/bg/hidden")" "$(zk_stat mzxid "$B/bg/hidden")"
expect_eq "the one ordered early: its data at the close" "data" "$(synced_content b bg/pending)"
expect_eq "the one ordered early: created, then written" 1 "$(zk_stat version "$B/bg/pending")"

# --- open(O_CREAT) racing another host: both succeed, the later close writes to the winner
cat >"$TEST_TMP/creator.py" <<'PY'
import os, sys, time
path, data, ready, go = sys.argv[1:5]
flags = os.O_APPEND if len(sys.argv) > 5 and sys.argv[5] == "append" else os.O_TRUNC
fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
open(ready, "w").close()
for _ in range(400):
    if os.path.exists(go): break
    time.sleep(0.025)
os.write(fd, data.encode())
try:
    os.close(fd)
    print("closed")
except OSError as error:
    print("close failed:", os.strerror(error.errno))
PY
# start_creator PATH DATA OUTPUT [append]: creator.py in the background, returning once it has
# opened PATH; its pid in racer, its close's result in OUTPUT once touch "$TEST_TMP/race-go".
start_creator() {
  rm -f "$TEST_TMP/race-ready" "$TEST_TMP/race-go"
  $PY "$TEST_TMP/creator.py" "$1" "$2" "$TEST_TMP/race-ready" "$TEST_TMP/race-go" ${4:+"$4"} >"$3" 2>&1 &
  racer=$!
  track_pid "$racer"
  wait_for 10 test -e "$TEST_TMP/race-ready" || fatal "the creator of $1 did not open"
}
start_creator "$B/bg/race" "from b" "$TEST_TMP/race-b"
echo "from a" >"$A/bg/race"
sync "$B/bg"
touch "$TEST_TMP/race-go"
wait "$racer"
expect_eq "b's close, after a's create won" "closed" "$(cat "$TEST_TMP/race-b")"
expect_eq "b's data went to a's node" "from b" "$(synced_content a bg/race)"
expect_eq "a's node, then b's write: version" 1 "$(zk_stat version "$A/bg/race")"

# --- the same race with O_APPEND: b's data goes after a's
start_creator "$B/bg/appended" "from b" "$TEST_TMP/append-b" append
printf 'from a;' >"$A/bg/appended"
sync "$B/bg"
touch "$TEST_TMP/race-go"
wait "$racer"
expect_eq "b's append close" "closed" "$(cat "$TEST_TMP/append-b")"
expect_eq "a's data, then b's" "from a;from b" "$(synced_content a bg/appended)"

# --- a name another host created is seen here by everyone, while a create of it is pending here
start_creator "$A/bg/shadowed" "mine" "$TEST_TMP/shadowed"
echo theirs >"$B/bg/shadowed"
expect_eq "another process on a reads b's node" "theirs" "$(synced_content a bg/shadowed)"
touch "$TEST_TMP/race-go"
wait "$racer"
expect_eq "the creator's close" "closed" "$(cat "$TEST_TMP/shadowed")"
expect_eq "its O_TRUNC and data went to b's node" "mine" "$(synced_content b bg/shadowed)"

# --- the directory goes before the close: the close fails with ENOENT, nothing is created
mkdir "$A/bg/doomed" || fail "mkdir doomed"
start_creator "$A/bg/doomed/f" "lost" "$TEST_TMP/doomed"
sync "$B/bg"
expect_ok "rmdir '$B/bg/doomed'"  # on b: empty for everyone but the creator
touch "$TEST_TMP/race-go"
wait "$racer"
expect_eq "the creator's close" "close failed: No such file or directory" "$(cat "$TEST_TMP/doomed")"
expect_fail "test -e '$A/bg/doomed'"  # nothing created

# --- another creator of a pending name on this host waits for it: O_EXCL and mkdir say EEXIST
start_creator "$A/bg/taken" "first" "$TEST_TMP/taken"
expect_errno "$PY -c 'import os; os.open(\"$A/bg/taken\", os.O_WRONLY | os.O_CREAT | os.O_EXCL)'" "File exists"
expect_errno "mkdir '$A/bg/taken'" "File exists"
touch "$TEST_TMP/race-go"
wait "$racer"
expect_eq "the first creator's close" "closed" "$(cat "$TEST_TMP/taken")"
expect_content "$A/bg/taken" "first"

# --- one thread's writes keep their order: its pending create goes before its mkdir
$PY - "$A/bg" <<'PY' || fail "ordering script"
import os, sys
d = sys.argv[1]
fd = os.open(d + "/ordered-file", os.O_WRONLY | os.O_CREAT, 0o644)
os.mkdir(d + "/ordered-dir")
os.write(fd, b"x")
os.close(fd)
PY
file_czxid=$(zk_stat czxid "$B/bg/ordered-file")
dir_czxid=$(zk_stat czxid "$B/bg/ordered-dir")
expect_true "the file's create is ordered before the mkdir ($file_czxid < $dir_czxid)" test "$((file_czxid))" -lt "$((dir_czxid))"

# --- flock on a file whose create is pending: the create comes first, the lock works
expect_ok "exec 3>'$A/bg/locked'; flock -n 3 && ls '$A/.locks/'\$(stat -c %i '$A/bg/locked') >/dev/null"

# --- inotify on another host: CREATE and CLOSE_WRITE, no MODIFY, for a new file with data
events=$TEST_TMP/events-b
inotifywait -m -q -e create -e modify -e close_write --format '%e %f' "$B/bg" >"$events" 2>/dev/null &
track_pid "$!"
sleep 0.5
echo watched >"$A/bg/watched"
wait_for 5 grep -q 'CLOSE_WRITE,CLOSE watched' "$events" || fail "b saw no close of watched: $(printable "$(cat "$events")")"
sleep 0.3
expect_eq "b's events for a new file with data" "CREATE watched;CLOSE_WRITE,CLOSE watched;" "$(grep ' watched$' "$events" | tr '\n' ';')"

finish
