#!/usr/bin/env bash
# A member shows only what it knows committed. Alone, it mounts after writeTimeout (it waited for
# a leader to sync with) and its root says user.zk.state=unsynced; once a quorum forms it says
# synced. Restarted while the others are down, it shows its own tree, still unsynced, and the
# values it showed before; writes made meanwhile elsewhere appear once it syncs again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3
state_of() { getfattr --absolute-names --only-values -n user.zk.state "$(mnt_of "$1")" 2>&1; }

started=$SECONDS
spawn_node a --config "$TEST_TMP/a.cfg" "$(mnt_of a)" || fatal "could not start a"
wait_mounted a 20 || fatal "a did not mount alone"
waited=$((SECONDS - started))
expect_true "alone, a mounted only after waiting for a leader (${waited} s, writeTimeout 4 s)" test "$waited" -ge 3
expect_eq "a's root without a quorum" "unsynced" "$(state_of a)"
expect_eq "user.zk.state is listed on the root" "user.zk.state" \
  "$(getfattr --absolute-names -d -m 'user.zk.state' "$(mnt_of a)" 2>/dev/null | grep -o '^user.zk.state')"
expect_errno "getfattr -n user.zk.state '$(mnt_of a)/zookeeper'" "No such attribute"

start_members b
wait_for 10 bash -c "[[ \$(getfattr --absolute-names --only-values -n user.zk.state '$(mnt_of a)' 2>/dev/null) == synced ]]" ||
  fail "a never said synced once b joined"
expect_eq "b's root" "synced" "$(state_of b)"
wait_writable a 20 || fatal "no leader within 20 s"
put "$(mnt_of a)/config" v1 || fail "write v1"
start_members c
wait_for 10 test -e "$(mnt_of c)/config" || fail "c never saw config"

# c stops; a and b write v2; then a and b stop and c comes back alone.
stop_node c || fail "c did not stop cleanly"
put "$(mnt_of a)/config" v2 || fail "write v2"
stop_node a || fail "a did not stop cleanly"
stop_node b || fail "b did not stop cleanly"
start_members c
expect_eq "c alone again" "unsynced" "$(state_of c)"
expect_content "$(mnt_of c)/config" v1
start_members a
wait_for 10 bash -c "[[ \$(getfattr --absolute-names --only-values -n user.zk.state '$(mnt_of c)' 2>/dev/null) == synced ]]" ||
  fail "c never said synced once a was back"
expect_eq "c after its sync" "v2" "$(synced_content c config)"

finish
