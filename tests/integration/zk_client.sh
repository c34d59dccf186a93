#!/usr/bin/env bash
# ZooKeeper's client protocol on a three-member ensemble on 127.0.0.1, every member mounted and
# serving a client port: kazoo (the operations, watches, multi, digest ACLs), zkCli.sh and the C
# client's cli_mt; one tree for the ZooKeeper clients and the mounts (docs/guarantees.md §5 for
# the inotify side, docs/mount.md for the xattrs); four-letter words; hostile clients, which a
# member closes and logs while the ensemble goes on serving; a session that moves to another
# member when its own is killed, with its ephemerals, and its watches re-sent with setWatches.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

# Debian's python3 (python3-kazoo); another python3 on PATH may not have kazoo.
PYTHON=/usr/bin/python3
ZKCHECK=$(dirname "$0")/zk/zkcheck.py
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh    # package zookeeper
CLI_MT=/usr/lib/zookeeper/bin/cli_mt        # package zookeeper-bin
# scripts/setup.sh installs every client this test drives: a missing one fails it.
if ! "$PYTHON" -c 'import kazoo' 2>/dev/null; then
  echo "$TEST_NAME: FAIL: needs $PYTHON with kazoo (package python3-kazoo; scripts/setup.sh installs it)" >&2
  exit 1
fi

ZK_CLIENT_PORTS=1
ZK_CLIENT_SETTINGS+=$'\n4lw.commands.whitelist=*'
ensemble_init 3
# c answers only a few words (the line after the one above wins)
echo "4lw.commands.whitelist=ruok,srvr,isro" >>"$TEST_TMP/c.cfg"
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b) C=$(mnt_of c)
log "leader: $(leader_name)"

host_of() { echo "127.0.0.1:$(client_port_of "$1")"; }

# zk SUBCOMMAND ARGS...: runs zkcheck.py (<= 60 s); its key=value lines land in ZK[key].
declare -A ZK=()
zk() {
  local output status
  output=$(timeout 60 "$PYTHON" "$ZKCHECK" "$@" 2>"$TEST_TMP/zkcheck.err")
  status=$?
  zk_parse <<<"$output"
  ((status == 0)) || log "zkcheck.py $1 exited with status $status: $(tail -n 3 "$TEST_TMP/zkcheck.err" | tr '\n' '|')"
  return "$status"
}
zk_parse() {
  ZK=()
  local line
  while IFS= read -r line; do
    [[ $line == *=* ]] && ZK[${line%%=*}]=${line#*=}
  done
}
# zk_value KEY: what zkcheck.py said for KEY, or <none>.
zk_value() { printf '%s' "${ZK[$1]-<none>}"; }

# zk_background NAME SUBCOMMAND ARGS...: runs zkcheck.py in the background, its output in
# $TEST_TMP/NAME.out; BG_PID is its pid.
zk_background() {
  local name=$1
  shift
  timeout 90 "$PYTHON" "$ZKCHECK" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
  BG_PID=$!
  track_pid "$BG_PID"
}
# zk_collect NAME PID TIMEOUT_S: waits for it, then its lines land in ZK[key].
zk_collect() {
  wait_pid_exit "$2" "$3" || log "zkcheck.py ($1) still running after $3 s"
  zk_parse <"$TEST_TMP/$1.out"
  [[ -s $TEST_TMP/$1.err ]] && log "zkcheck.py ($1) said: $(tail -n 3 "$TEST_TMP/$1.err" | tr '\n' '|')"
  return 0
}

# log_mark NAME: the number of lines in NAME's log now; log_since NAME MARK PATTERN: a line past
# MARK matches PATTERN (for wait_for).
log_mark() { wc -l <"$(log_of "$1")"; }
log_since() { tail -n +"$(($2 + 1))" "$(log_of "$1")" | grep -qE -- "$3"; }

# still_serves WHAT: kazoo through every member's port, and a write on a's mount read on c's.
still_serves() {
  local name
  for name in a b c; do
    [[ -n $(pid_of "$name") ]] || continue
    zk create "$(host_of "$name")" "/alive/$1-$name" ok >/dev/null
    expect_eq "after $1: kazoo creates through $name" "/alive/$1-$name" "$(zk_value created)"
  done
  put "$A/alive-$1" yes || fail "after $1: a write on a's mount failed"
  expect_eq "after $1: a's mount write read on c" yes "$(synced_content c "alive-$1")"
}

# The parents of the clients' nodes are directories made on a mount: a node a ZooKeeper client
# creates is a file of the mount, and the tree refuses a child under a file (NotDirectory, which a
# client sees as BadArguments), though docs/zk-protocol.md says the file becomes a directory.
mkdir -p "$A/kz/seq" "$A/kz/tx" "$A/move" "$A/alive" "$A/zkcli-parent" || fatal "mkdir on a's mount"
sync "$A"

# ---------------------------------------------------------------------------------------------
# kazoo: the operations of a session
zk basic "$(host_of a)" || fail "kazoo: the basic session failed (see above)"
expect_eq "kazoo: create returns the path" /kz/node "$(zk_value create)"
expect_eq "kazoo: get returns the data" v1 "$(zk_value get)"
expect_eq "kazoo: a new node has version 0" 0 "$(zk_value get_version)"
expect_eq "kazoo: set moves the version to 1" 1 "$(zk_value set_version)"
expect_eq "kazoo: get after set" v2 "$(zk_value get_after_set)"
expect_eq "kazoo: exists after delete" None "$(zk_value exists_after_delete)"
expect_eq "kazoo: exists on a missing node" None "$(zk_value exists_missing)"
expect_eq "kazoo: an ephemeral's owner is the session" True "$(zk_value ephemeral_owner_is_session)"
expect_eq "kazoo: first sequential name" /kz/seq/job-0000000000 "$(zk_value sequence_1)"
expect_eq "kazoo: second sequential name" /kz/seq/job-0000000001 "$(zk_value sequence_2)"
expect_eq "kazoo: ephemeral sequential name" /kz/seq/eph-0000000002 "$(zk_value ephemeral_sequence)"
expect_eq "kazoo: a one-shot data watch fires once for two sets" 1 "$(zk_value data_watch_events)"
expect_eq "kazoo: the data watch's event" CHANGED "$(zk_value data_watch_type)"
expect_eq "kazoo: a child watch fires" "CHILD /kz/seq" "$(zk_value child_watch)"
expect_eq "kazoo: multi create+check+set results" "/kz/tx/a True ZnodeStat" "$(zk_value multi_results)"
expect_eq "kazoo: multi's set applied" y "$(zk_value multi_data)"
expect_eq "kazoo: failing multi's results" "RolledBackError BadVersionError RuntimeInconsistency" \
  "$(zk_value multi_fail_results)"
expect_eq "kazoo: failing multi created nothing" False "$(zk_value multi_fail_created)"
expect_eq "kazoo: failing multi set nothing" y "$(zk_value multi_fail_data)"
expect_eq "kazoo: get_children" "eph-0000000002 job-0000000000 job-0000000001 new-child" "$(zk_value children)"
expect_eq "kazoo: get_children include_data's numChildren" 4 "$(zk_value children_stat_num)"
expect_eq "kazoo: digest ACL readable after add_auth" "for alice" "$(zk_value auth_read)"
expect_eq "kazoo: digest ACL refused to another session" NoAuthError "$(zk_value noauth_read)"

# ---------------------------------------------------------------------------------------------
# One tree: ZooKeeper clients and mounts
mkdir "$B/mixed" || fail "mkdir mixed on b's mount"
: >"$TEST_TMP/inotify.err"
inotifywait -m -q --format '%e %f' "$B/mixed" >"$TEST_TMP/inotify.events" 2>"$TEST_TMP/inotify.err" &
track_pid $!
inotify_pid=$!
sleep 0.5 # (-q hides "Watches established")
zk create "$(host_of a)" /mixed/a "from kazoo"
expect_eq "mixed: kazoo creates /mixed/a through a" /mixed/a "$(zk_value created)"
expect_eq "mixed: c's mount reads kazoo's node" "from kazoo" "$(synced_content c mixed/a)"
wait_for 5 grep -q 'CREATE a' "$TEST_TMP/inotify.events" || true
kill "$inotify_pid" 2>/dev/null
expect_match "mixed: inotifywait on b's mount sees kazoo's create" 'CREATE a' "$(tr '\n' ';' <"$TEST_TMP/inotify.events")"

# a write through b's mount fires a kazoo data watch set through a's port. (write_once: one
# open, write, close; `echo v >` commits the same single setData, docs/mount.md)
zk_background watch watch "$(host_of a)" /mixed/a "$TEST_TMP/watch.ready"
watcher=$BG_PID
wait_for 20 test -e "$TEST_TMP/watch.ready" || fail "mixed: the kazoo watcher did not start"
write_once "$B/mixed/a" "from b's mount" || fail "mixed: write on b's mount"
zk_collect watch "$watcher" 30
expect_eq "mixed: b's mount write fires a's kazoo data watch" "CHANGED /mixed/a" "$(zk_value event)"
expect_eq "mixed: kazoo reads the mount's write" "from b's mount" "$(zk_value data)"

# the stat agrees: kazoo's ZnodeStat through a, the xattrs on c's mount
zk stat "$(host_of a)" /mixed/a
sync "$C/mixed" 2>/dev/null
expect_eq "mixed: user.zk.mzxid on c = kazoo's mzxid" "$(zk_value mzxid)" "$(xattr "$C/mixed/a" user.zk.mzxid)"
expect_eq "mixed: user.zk.czxid on c = kazoo's czxid" "$(zk_value czxid)" "$(xattr "$C/mixed/a" user.zk.czxid)"
expect_eq "mixed: user.zk.version on c = kazoo's version" "$(zk_value version)" "$(xattr "$C/mixed/a" user.zk.version)"
expect_eq "mixed: the version after one create and one write" 1 "$(zk_value version)"

# a kazoo ephemeral is on the mounts while its session lives, and goes when it closes
zk_background hold hold "$(host_of a)" /mixed/held "$TEST_TMP/hold.ready" "$TEST_TMP/hold.go"
holder=$BG_PID
wait_for 20 test -e "$TEST_TMP/hold.ready" || fail "mixed: the kazoo holder did not start"
if wait_for 5 test -e "$B/mixed/held" && wait_for 5 test -e "$C/mixed/held"; then
  pass "mixed: kazoo's ephemeral is on b's and c's mounts"
else
  fail "mixed: kazoo's ephemeral is not on the mounts (b: $(listing "$B/mixed"); c: $(listing "$C/mixed"))"
fi
owner=$(xattr "$C/mixed/held" user.zk.ephemeralOwner)
expect_match "mixed: its ephemeralOwner on c is a session" '^0x[0-9a-f]*[1-9a-f][0-9a-f]*$' "$owner"
touch "$TEST_TMP/hold.go"
zk_collect hold "$holder" 30
expect_eq "mixed: the kazoo holder closed its session" yes "$(zk_value closed)"
if wait_for 5 test ! -e "$B/mixed/held" && wait_for 5 test ! -e "$C/mixed/held"; then
  pass "mixed: kazoo's ephemeral left the mounts when its session closed"
else
  fail "mixed: kazoo's ephemeral still on a mount 5 s after its session closed"
fi

# ---------------------------------------------------------------------------------------------
# Four-letter words (bash's /dev/tcp: a word, then the member answers and closes)
four() {
  (exec 3<>"/dev/tcp/127.0.0.1/$(client_port_of "$1")" && printf '%s' "$2" >&3 && timeout 5 cat <&3) 2>/dev/null
}
expect_eq "4lw: ruok on a (whitelist *)" imok "$(four a ruok)"
expect_eq "4lw: ruok on c (whitelisted)" imok "$(four c ruok)"
expect_eq "4lw: mntr on c (not whitelisted)" "mntr is not executed because it is not in the whitelist." "$(four c mntr)"
modes=""
for name in a b c; do
  mode=$(four "$name" srvr | sed -n 's/^Mode: //p')
  expect_match "4lw: srvr on $name shows its mode" '^(leader|follower)$' "$mode"
  modes+="$mode "
done
expect_eq "4lw: one leader among the three" 1 "$(grep -o leader <<<"$modes" | wc -l)"
expect_eq "4lw: isro on b" rw "$(four b isro)"

# ---------------------------------------------------------------------------------------------
# Hostile clients: each is closed, logged, and the ensemble goes on
# hostile SUBCOMMAND MEMBER LOG_PATTERN WHAT
hostile() {
  local command=$1 name=$2 pattern=$3 what=$4 mark
  mark=$(log_mark "$name")
  zk "$command" "$(client_port_of "$name")"
  expect_match "hostile: $what: the member closed the connection" '^(closed|reset)$' "$(zk_value result)"
  if wait_for 5 log_since "$name" "$mark" "$pattern"; then
    pass "hostile: $what: logged"
  else
    fail "hostile: $what: no line /$pattern/ in $name's log"
  fi
}
hostile raw-huge-first b 'a connect request of 2147483647 bytes' "a first frame of 0x7fffffff bytes"
hostile raw-huge-after b 'a frame of 2147483647 bytes' "a frame of 0x7fffffff bytes after a connect"
hostile raw-bad-connect b 'a malformed connect request' "a malformed connect"
hostile raw-unknown-op b 'unknown request \(opcode 999' "an unknown opcode after a good connect"

# a client that sends getData of a 512 KiB node again and again and never reads the replies
write_repeated_once "$A/big" x $((512 * 1024)) || fail "hostile: could not write the 512 KiB node"
sync "$A" 2>/dev/null
mark=$(log_mark b)
zk_background noread raw-no-read "$(client_port_of b)" /big 400 "$TEST_TMP/noread.ready" "$TEST_TMP/noread.go"
noread=$BG_PID
wait_for 30 test -e "$TEST_TMP/noread.ready" || fail "hostile: the non-reading client did not send its requests"
if wait_for 20 log_since b "$mark" 'took none of .* bytes of replies and events: closed'; then
  pass "hostile: a client that never reads: logged"
else
  fail "hostile: a client that never reads: no 'took none of ... bytes' line in b's log within 20 s"
fi
touch "$TEST_TMP/noread.go"
zk_collect noread "$noread" 40
expect_eq "hostile: a client that never reads: every request sent" 400 "$(zk_value requests_sent)"
expect_match "hostile: a client that never reads: the member closed the connection" '^(closed|reset)$' "$(zk_value result)"
log "the non-reading client got $(zk_value received_before_close) bytes before the close"
if kill -0 "$(pid_of b)" 2>/dev/null; then pass "hostile: b is still running"; else fail "hostile: b died"; fi
still_serves hostile

# ---------------------------------------------------------------------------------------------
# zkCli.sh (Java, slow to start: one run of several commands) and the C client's cli_mt
if [[ -x $ZKCLI ]]; then
  zkcli_out=$(printf '%s\n' 'create /zkcli v1' 'get /zkcli' 'set /zkcli v2' 'get /zkcli' \
    'create /zkcli-parent/child c' 'ls /zkcli-parent' 'delete /zkcli-parent/child' \
    'ls /zkcli-parent' 'quit' | timeout 60 "$ZKCLI" -server "$(host_of b)" 2>&1)
  log "zkCli.sh said: $(grep -vE '^\s*$|INFO|WARN|log4j|SLF4J' <<<"$zkcli_out" | tr '\n' '|' | cut -c1-600)"
  expect_match "zkCli: create" 'Created /zkcli' "$zkcli_out"
  expect_match "zkCli: get, set, get" $'(^|\n)v1\n.*(^|\n)v2\n' "$zkcli_out"
  expect_match "zkCli: ls shows the child" '\[child\]' "$zkcli_out"
  expect_match "zkCli: ls after delete is empty" $'\\[child\\][^\n]*\n(.*\n)?\\[\\]' "$zkcli_out"
  expect_eq "zkCli's node read on a's mount" v2 "$(synced_content a zkcli)"
else
  fail "zkCli.sh not installed (package zookeeper; scripts/setup.sh installs it)"
fi
if [[ -x $CLI_MT ]]; then
  # cli_mt reads commands from stdin and answers asynchronously: give it time before quit
  cli_out=$( (printf '%s\n' 'create /climt' 'set /climt c-data' 'get /climt' 'ls /' 'delete /climt' 'exists /climt' \
    'create /climt-kept' 'set /climt-kept kept'; sleep 3; echo quit) | timeout 30 "$CLI_MT" "$(host_of c)" 2>&1)
  log "cli_mt said: $(grep -vE '^[0-9]{4}-|^\s*$' <<<"$cli_out" | tr '\n' '|' | cut -c1-600)"
  expect_match "cli_mt: create" $'\\[/climt\\]: rc = 0' "$cli_out"
  expect_match "cli_mt: set then get" $'value_len = 6\nc-data' "$cli_out"
  expect_match "cli_mt: ls / lists the node" $'\n\tclimt\n' "$cli_out"
  expect_match "cli_mt: delete fires the watch its get left" 'DELETED_EVENT .* for path /climt' "$cli_out"
  expect_match "cli_mt: exists after delete" 'Error -101 for /climt' "$cli_out"
  expect_eq "cli_mt's node read on a's mount" kept "$(synced_content a climt-kept)"
else
  fail "cli_mt not installed (package zookeeper-bin; scripts/setup.sh installs it)"
fi

# ---------------------------------------------------------------------------------------------
# Locks: kazoo's Lock recipe between two members; and a mutex taken as Curator's InterProcessMutex
# takes it, on /.locks/<inode> of a mount's file, excludes the mount's flock both ways
# (docs/mount.md, "Locks").
zk lock "$(host_of a)" "$(host_of b)" /kzlock
expect_eq "kazoo Lock: a try while a holds it fails" False "$(zk_value try_while_held)"
expect_eq "kazoo Lock: the blocked waiter waits while a holds it" False "$(zk_value waiter_got_it_while_held)"
expect_eq "kazoo Lock: the waiter gets it when a releases it" True "$(zk_value waiter_got_it_after_release)"
expect_eq "kazoo Lock: 2 x 20 increments under the lock" 40 "$(zk_value counter)"
expect_eq "kazoo Lock: no lock node left" 0 "$(zk_value lock_nodes_left)"

touch "$A/curated"
inode=$(stat -c %i "$A/curated")
flock -n "$A/curated" true  # the mount makes /.locks/<inode> with its first lock
zk_background curator curator-hold "$(host_of b)" "/.locks/$inode" "$TEST_TMP/curator.ready" "$TEST_TMP/curator.go"
curator=$BG_PID
wait_for 20 test -e "$TEST_TMP/curator.ready" || fail "the Curator-style mutex did not get ready"
flock -n "$C/curated" true
expect_eq "a Curator mutex held: flock -n on a mount fails (EWOULDBLOCK: exit 1)" 1 "$?"
touch "$TEST_TMP/curator.go"
zk_collect curator "$curator" 20
expect_eq "the Curator mutex held at once" True "$(zk_value held_at_once)"
wait_for 10 flock -n "$C/curated" true || fail "the mount's lock stayed taken after the Curator mutex went"
flock "$A/curated" -c "touch '$TEST_TMP/flock-held'; while [ ! -e '$TEST_TMP/flock-go' ]; do sleep 0.02; done" &
holder=$!
track_pid "$holder"
wait_for 10 test -e "$TEST_TMP/flock-held" || fail "flock on a did not get the lock"
rm -f "$TEST_TMP/curator.ready" "$TEST_TMP/curator.go"
zk_background curator2 curator-hold "$(host_of c)" "/.locks/$inode" "$TEST_TMP/curator.ready" "$TEST_TMP/curator.go"
curator=$BG_PID
wait_for 20 test -e "$TEST_TMP/curator.ready" || fail "the second Curator-style mutex did not get ready"
touch "$TEST_TMP/curator.go" "$TEST_TMP/flock-go"
zk_collect curator2 "$curator" 20
wait_pid_exit "$holder" 10 || fail "the flock holder did not end"
expect_eq "a mount's flock held: a Curator mutex does not hold at once" False "$(zk_value held_at_once)"
expect_match "...the mount's waiter node is ahead of it" '^write-lock-[0-9]{10}$' "$(zk_value ahead)"

# ---------------------------------------------------------------------------------------------
# A session moves: kazoo on a (hosts a,b in that order); a is killed; kazoo goes on with b with
# the same session and its ephemeral. kazoo 2.8 re-sends no watches (it fires each with a NONE
# event when the connection drops), so a raw client checks setWatches: its watch, set on a, is
# re-sent to b and fires there.
# move_session ID WHAT VICTIM HOSTS [AFTER]
move_session() {
  local id=$1 what=$2 victim=$3 hosts=$4 after=${5:-} mover raw=""
  zk_background "$id" move "$hosts" "$TEST_TMP/$id.ready" "$TEST_TMP/$id.go" $after
  mover=$BG_PID
  if [[ -z $after ]]; then
    zk_background "$id-raw" set-watches "$(host_of "$victim")" "$(client_port_of "$victim")" \
      "$(client_port_of b)" "/move/raw-$id" "$TEST_TMP/$id-raw.ready" "$TEST_TMP/$id.go"
    raw=$BG_PID
  fi
  if ! wait_for 30 test -e "$TEST_TMP/$id.ready" || { [[ -n $raw ]] && ! wait_for 30 test -e "$TEST_TMP/$id-raw.ready"; }; then
    touch "$TEST_TMP/$id.go"
    zk_collect "$id" "$mover" 10
    fail "$what: the clients did not get ready: $(printable "$(cat "$TEST_TMP/$id.out" "$TEST_TMP/$id.err")")"
    return 0
  fi
  stop_node "$victim" KILL || true
  if is_mounted "$(mnt_of "$victim")"; then fail "$what: $victim's mount still there"; else pass "$what: $victim's mount is gone"; fi
  touch "$TEST_TMP/$id.go"
  if [[ -n $raw ]]; then
    zk_collect "$id-raw" "$raw" 40
    expect_eq "$what: a raw client resumes its session on b" True "$(zk_value resumed_same_session)"
    expect_eq "$what: b answers its setWatches" "xid=-8 err=0" "$(zk_value set_watches_reply)"
    expect_eq "$what: the watch re-sent with setWatches fires on b" "type=3 path=/move/raw-$id" \
      "$(zk_value event_after_set_watches)"
  fi
  zk_collect "$id" "$mover" 40
  log "$what: negotiated timeout $(zk_value negotiated_timeout_ms) ms, disconnected $(zk_value disconnected_s) s, states: $(zk_value states)"
  expect_eq "$what: kazoo reconnected" yes "$(zk_value reconnected)"
  expect_eq "$what: the session did not expire (no LOST)" no "$(zk_value lost)"
  expect_eq "$what: the same session id" True "$(zk_value session_same)"
  expect_eq "$what: its ephemeral still exists" True "$(zk_value ephemeral_exists)"
  expect_eq "$what: the ephemeral's owner is the session" True "$(zk_value ephemeral_owner_same)"
  expect_eq "$what: kazoo's own watch ended with the connection (NONE)" NONE "$(zk_value old_watch_event)"
  expect_eq "$what: a watch set after the move fires" CHANGED "$(zk_value watch_after_move)"
}
move_session move1 "session move (a killed)" a "$(host_of a),$(host_of b)"
expect_eq "session move (a killed): kazoo went on with b" "$(client_port_of b)" "$(zk_value connected_port)"
start_members a
wait_writable a 20 || fail "a did not come back"
# Away longer than the host's sessionTimeout, within its own: the leader expires a client session
# by its own timeout (docs/zk-protocol.md, "Sessions").
move_session move2 "session move (b killed, 3 s away)" b "$(host_of b)" "$(host_of c)"
expect_eq "session move (b killed, 3 s away): kazoo went on with c" "$(client_port_of c)" "$(zk_value connected_port)"

still_serves "session moves"

finish
