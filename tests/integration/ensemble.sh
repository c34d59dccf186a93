#!/usr/bin/env bash
# A three-member ensemble and an observer on 127.0.0.1, each with its own mount:
#   writes on one host read on the others; sync(); inotify events for another host's changes;
#   ephemerals of a killed process and of a killed host; the observer never blocks writes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3 1
start_members a b c o
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b) C=$(mnt_of c) O=$(mnt_of o)
log "leader: $(leader_name)"

# --- one tree on every host
put "$A/greeting" "hello from a" || fail "write on a"
for name in b c o; do
  expect_eq "a's write read on $name after sync" "hello from a" "$(synced_content "$name" greeting)"
done
mkdir "$B/dir-from-b" && put "$B/dir-from-b/f" "from b" || fail "write on b (a follower or the leader)"
expect_eq "b's write read on c after sync" "from b" "$(synced_content c dir-from-b/f)"
expect_eq "b's write read on a after sync" "from b" "$(synced_content a dir-from-b/f)"
expect_errno "mkdir '$C/dir-from-b'" "File exists"

# --- another host's changes raise inotify events here (docs/guarantees.md §5)
events=$TEST_TMP/events-b
inotifywait -m -q --format '%e %f' "$B" >"$events" 2>/dev/null &
watcher=$!
track_pid "$watcher"
sleep 0.5
put "$A/watched" v1 || fail "create on a"
put "$A/watched" v2 || fail "modify on a"
mv "$A/watched" "$A/watched-renamed" || fail "rename on a"
rm "$A/watched-renamed" || fail "delete on a"
mkdir "$A/watched-dir" || fail "mkdir on a"
wait_for 5 grep -q 'CREATE,ISDIR watched-dir' "$events"
kill "$watcher" 2>/dev/null
seen=$(tr '\n' ';' <"$events")
expect_match "b sees a's create" 'CREATE watched;' "$seen"
expect_match "b sees a's data change" 'MODIFY watched;.*CLOSE_WRITE,CLOSE watched;' "$seen"
expect_match "b sees a's rename" 'MOVED_FROM watched;MOVED_TO watched-renamed;' "$seen"
expect_match "b sees a's delete" 'DELETE watched-renamed;' "$seen"
expect_match "b sees a's mkdir" 'CREATE,ISDIR watched-dir;' "$seen"
expect_match "b sees them in zxid order" 'CREATE watched;.*MOVED_TO watched-renamed;.*DELETE watched-renamed;.*CREATE,ISDIR watched-dir' "$seen"

# --- an ephemeral goes on every host when the process holding it dies
mkdir -m 2755 "$A/members" || fail "mkdir -m 2755 members"
(exec 3>"$A/members/holder" && exec sleep 600) &
holder=$!
track_pid "$holder"
wait_for 5 test -e "$C/members/holder" || fail "the ephemeral did not appear on c"
expect_eq "the ephemeral has an owner on c" 1 "$(getfattr -n user.zk.ephemeralOwner --only-values "$C/members/holder" 2>/dev/null | grep -cv '^0x0*$')"
kill -9 "$holder"
if wait_for 5 test ! -e "$C/members/holder"; then pass "kill -9 of the holder on a removed the ephemeral on c"; else fail "ephemeral still on c 5 s after its holder died"; fi

# --- the observer sees everything and its loss never blocks writes
expect_eq "the observer reads a's write" "from b" "$(synced_content o dir-from-b/f)"
stop_node o KILL || true
put "$A/after-observer" yes && pass "writes go on without the observer" || fail "a write failed after the observer died"

# --- a host that dies takes its ephemerals with it after the session timeout
(exec 3>"$B/members/on-b" && exec sleep 600) &
track_pid $!
wait_for 5 test -e "$C/members/on-b" || fail "b's ephemeral did not appear on c"
stop_node b KILL || true
if wait_for 10 test ! -e "$C/members/on-b"; then
  pass "b's ephemerals removed on c after b died"
else
  fail "b's ephemeral still on c 10 s after b died (session timeout 1.5 s)"
fi
expect_eq "persistent nodes of b stay" "from b" "$(synced_content c dir-from-b/f)"

# --- a member without a mount (a dedicated server host) still votes
start_unmounted_member b || fail "b did not rejoin without a mount"
if is_mounted "$B"; then fail "--no-mount mounted anyway"; else pass "--no-mount leaves no mount"; fi
stop_node c || true
put "$A/with-unmounted-b" yes && pass "a and the unmounted b are a quorum" || fail "no quorum of a and the unmounted b"
stop_node b || fail "the unmounted member did not stop cleanly"

finish
