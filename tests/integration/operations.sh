#!/usr/bin/env bash
# What an operator runs the daemon with (docs/operations.md): JSON logs, the systemd unit and its
# readiness messages, mount(8)'s helper for fuse.quorumfs.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
BUILD=$(dirname "$QUORUMFS_BIN")
HELPER=$BUILD/mount.fuse.quorumfs
UNIT=$BUILD/quorumfs@.service
[[ -x $HELPER && -f $UNIT ]] || fatal "the build has no $HELPER or $UNIT"

# --- --log-format json: every line one JSON object, a user's bytes kept inside the message
start_node j --log-format json || fatal "could not start a node with --log-format json"
expect_errno "setfattr -n user.zk.acl -v 'bad\"acl' '$(mnt_of j)'" "Invalid argument"
stop_node j || fail "node j did not stop cleanly"
grep -v '^===== start' "$(log_of j)" >"$TEST_TMP/j.json"
expect_eq "every log line is a JSON object with time, level, pid and msg" "" \
  "$(jq -c 'select((.time | test("^[0-9-]+T[0-9:.]+Z$")) and (.level | type == "string") and (.pid | type == "number") and (.msg | type == "string") | not)' "$TEST_TMP/j.json" 2>&1)"
expect_match "the refused ACL's line, quote and all" 'bad ACL entry .bad"acl.' \
  "$(jq -r 'select(.level == "info") | .msg' "$TEST_TMP/j.json" | grep 'user.zk.acl')"
expect_match "the stop is logged" "stopped: " "$(jq -r .msg "$TEST_TMP/j.json" | tail -n 1)"

# --- bad values for the log flags stop the daemon before it touches anything
for flag in "--log-level bogus" "--log-format xml"; do
  run_shell "'$QUORUMFS_BIN' --data '$TEST_TMP/none' $flag '$TEST_TMP'"
  expect_eq "$flag: exit status (CLI11's validation error)" 105 "$RUN_STATUS"
  expect_match "$flag: says which values it takes" "not in \{" "$RUN_OUTPUT"
done
# ... and so do limits out of their range (docs/operations.md)
for flag in "--echo-backlog-max 10" "--echo-backlog-max -5"; do
  run_shell "'$QUORUMFS_BIN' --data '$TEST_TMP/none' $flag '$TEST_TMP'"
  expect_eq "$flag: exit status (CLI11's validation error)" 105 "$RUN_STATUS"
  expect_match "$flag: says the range" "not in range 64 to 16777216" "$RUN_OUTPUT"
done
expect_absent "$TEST_TMP/none"

# --- systemd: the unit's ExecStart, run with NOTIFY_SOCKET, says READY=1 once mounted and
# STOPPING=1 at SIGTERM (its KillSignal)
if command -v systemd-analyze >/dev/null; then
  sed "s|^ExecStart=[^ ]*|ExecStart=$QUORUMFS_BIN|" "$UNIT" >"$TEST_TMP/quorumfs@t.service"
  run_shell "systemd-analyze verify '$TEST_TMP/quorumfs@t.service'"
  expect_eq "systemd-analyze verify finds nothing to say: $(printable "$RUN_OUTPUT")" "0 " "$RUN_STATUS $RUN_OUTPUT"
else
  fail "systemd-analyze is missing (scripts/setup.sh installs systemd)"
fi
expect_eq "the unit waits for readiness and stops with SIGTERM" "Type=notify KillSignal=SIGTERM" \
  "$(grep -E '^(Type|KillSignal)=' "$UNIT" | tr '\n' ' ' | sed 's/ $//')"
cat >"$TEST_TMP/notify.py" <<'PY'
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(30)
with open(out, "a", buffering=1) as log:
    try:
        while True:
            state = sock.recv(4096).decode()
            log.write(state + "\n")
            if state == "STOPPING=1":
                break
    except socket.timeout:
        log.write("timeout\n")
PY
$PY "$TEST_TMP/notify.py" "$TEST_TMP/notify.sock" "$TEST_TMP/notify.log" &
listener=$!
track_pid "$listener"
wait_for 5 test -S "$TEST_TMP/notify.sock" || fail "the notify listener did not start"
mkdir -p "$(mnt_of n)" "$(data_of n)"
NOTIFY_SOCKET=$TEST_TMP/notify.sock spawn_node n --data "$(data_of n)" --log-format json "$(mnt_of n)"
wait_for 10 grep -q READY=1 "$TEST_TMP/notify.log" || fail "no READY=1 within 10 s"
if is_mounted "$(mnt_of n)"; then pass "mounted when READY=1 came"; else fail "not mounted when READY=1 came"; fi
expect_eq "nothing but READY=1 before the stop" "READY=1" "$(cat "$TEST_TMP/notify.log")"
stop_node n || fail "node n did not stop cleanly"
wait_pid_exit "$listener" 5 || fail "the notify listener is still waiting"
expect_eq "READY=1, then STOPPING=1 at SIGTERM" "READY=1 STOPPING=1" "$(tr '\n' ' ' <"$TEST_TMP/notify.log" | sed 's/ $//')"

# --- mount(8)'s helper. The config: a lone member on a free loopback port.
port=$((20000 + RANDOM % 10000))
H="$TEST_TMP/h/m nt"  # a space: /proc/self/mounts writes it as \040
mkdir -p "$TEST_TMP/h/data" "$H"
chmod 700 "$TEST_TMP/h/data"
cat >"$TEST_TMP/h.cfg" <<CFG
dataDir=$TEST_TMP/h/data
server.1=127.0.0.1:$port:$((port + 1))
CFG
echo "$H" >>"$MOUNTS_FILE"
# helper ARGS...: runs mount.fuse.quorumfs as mount(8) would; status and output as run_shell's.
helper() {
  RUN_OUTPUT=$(QUORUMFS_BIN=$QUORUMFS_BIN timeout 60 "$HELPER" "$@" 2>&1)
  RUN_STATUS=$?
}

# errors: nothing starts, nothing is mounted
helper "$TEST_TMP/h.cfg" "$H" -o rw,noatime,bogus
expect_eq "an unknown option: mount's usage error" 1 "$RUN_STATUS"
expect_match "...naming it" "unknown option 'bogus'" "$RUN_OUTPUT"
helper "$TEST_TMP/h.cfg" "$H" -o ro
expect_match "ro is refused" "^1 mount.fuse.quorumfs: ro: quorumfs mounts its tree read-write only" "$RUN_STATUS $RUN_OUTPUT"
helper "$TEST_TMP/missing.cfg" "$H"
expect_match "a missing config" "^1 .*not a readable configuration file" "$RUN_STATUS $RUN_OUTPUT"
helper "$TEST_TMP/h.cfg" "$H" -o timeout=0
expect_match "a bad timeout" "^1 .*timeout=0" "$RUN_STATUS $RUN_OUTPUT"
printf 'dataDir=%s\nserver.1=127.0.0.1:%s:%s\nsyncLimit=-1\n' "$TEST_TMP/h/data" "$port" $((port + 1)) >"$TEST_TMP/bad.cfg"
helper "$TEST_TMP/bad.cfg" "$H" -o "log=$TEST_TMP/h/bad.log"
expect_eq "a config the daemon refuses: mount failure (32)" 32 "$RUN_STATUS"
expect_match "...with the daemon's reason" "syncLimit" "$RUN_OUTPUT"
if is_mounted "$H"; then fail "mounted after the errors"; else pass "nothing mounted after the errors"; fi

# mount (sloppy: an unknown option is ignored), use, a second mount on top refused, umount
helper "$TEST_TMP/h.cfg" "$H" -s -o "_netdev,noatime,bogus,log=$TEST_TMP/h/helper.log,pidfile=$TEST_TMP/h/pid,log_format=json,timeout=20"
expect_eq "the helper returns 0: $(printable "$RUN_OUTPUT")" 0 "$RUN_STATUS"
helper_pid=$(cat "$TEST_TMP/h/pid" 2>/dev/null)
[[ -n $helper_pid ]] && track_pid "$helper_pid"
expect_eq "mounted as fuse.quorumfs when it returns" "fuse.quorumfs" "$(findmnt -rn -o FSTYPE -M "$H")"
expect_eq "the pidfile names the running daemon" "quorumfs" "$(ps -o comm= -p "$helper_pid" 2>/dev/null)"
echo hello >"$H/greeting"
expect_eq "the mount works" "hello" "$(cat "$H/greeting")"
helper "$TEST_TMP/h.cfg" "$H" -o "log=$TEST_TMP/h/second.log"
expect_match "a second mount there is refused (32)" "^32 .*already a mount point" "$RUN_STATUS $RUN_OUTPUT"
expect_eq "...before starting a member" "" "$(cat "$TEST_TMP/h/second.log" 2>/dev/null)"
expect_eq "its log is JSON" "" "$(jq -c 'select(.msg | type != "string")' "$TEST_TMP/h/helper.log" 2>&1)"
umount "$H" || fail "umount $H"
wait_pid_exit "$helper_pid" 10 || fail "the daemon did not stop after umount"
expect_match "umount is a clean stop" "stopped: " "$(jq -r .msg "$TEST_TMP/h/helper.log" | tail -n 1)"

# through mount(8) itself: it runs /sbin/mount.fuse.quorumfs (linked for this test when missing)
link=/sbin/mount.fuse.quorumfs
made_link=0
if [[ ! -e $link ]]; then
  ln -s "$HELPER" "$link" && made_link=1
fi
run_shell "QUORUMFS_BIN='$QUORUMFS_BIN' mount -t fuse.quorumfs -o pidfile=$TEST_TMP/h/pid2,log=$TEST_TMP/h/helper.log '$TEST_TMP/h.cfg' '$H'"
((made_link)) && rm -f "$link"
expect_eq "mount -t fuse.quorumfs: $(printable "$RUN_OUTPUT")" 0 "$RUN_STATUS"
mount_pid=$(cat "$TEST_TMP/h/pid2" 2>/dev/null)
[[ -n $mount_pid ]] && track_pid "$mount_pid"
expect_eq "the earlier write survived the restart" "hello" "$(cat "$H/greeting" 2>&1)"
umount "$H" || fail "umount $H (second)"
wait_pid_exit "$mount_pid" 10 || fail "the daemon mount(8) started did not stop after umount"

finish
