#!/usr/bin/env bash
# quorumctl on a three-member ensemble (docs/quorumctl.md): `status` on the leader lists its
# followers and their lag, on a follower says follower; a compare-and-set through a follower's
# control socket commits for the whole ensemble, and a lost one changes nothing anywhere.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"
exec </dev/null

QC=$(dirname "$QUORUMFS_BIN")/quorumctl
[[ -x $QC ]] || fatal "no quorumctl beside $QUORUMFS_BIN"

ensemble_init 3
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
leader=$(leader_name)
[[ -n $leader ]] || fatal "no member says it leads"
follower=a
[[ $leader == a ]] && follower=b
declare -A ID=([a]=1 [b]=2 [c]=3)
L=$(mnt_of "$leader")
F=$(mnt_of "$follower")

# --- status: the leader's view of its followers
"$QC" create "$F/cas" v0 >/dev/null || fail "create through $follower"
sync "$L"
status=$("$QC" status "$L" 2>&1)
expect_match "status on the leader: role" "role=leader" "$status"
expect_match "status on the leader: state" "state=synced" "$status"
expect_match "status on the leader: its id" "serverId=${ID[$leader]}" "$status"
for name in a b c; do
  [[ $name == "$leader" ]] && continue
  expect_match "status on the leader lists $name, synced, lag 0" \
    "peer\.${ID[$name]}=follower synced acked=0x[0-9a-f]+ lag=0" "$status"
done
status=$("$QC" status "$F" 2>&1)
expect_match "status on a follower: role" "role=follower" "$status"
expect_eq "a follower lists no peers" 0 "$(grep -c '^peer\.' <<<"$status")"

# --- compare-and-set through a follower's socket: one commit, seen everywhere
v=$(xattr "$F/cas" user.zk.version)
run_shell "'$QC' set --version $v '$F/cas' v1"
expect_eq "set --version through $follower" 0 "$RUN_STATUS"
expect_eq "...read on the leader after sync" v1 "$(synced_content "$leader" cas)"
run_shell "'$QC' set --version $v '$L/cas' v2"
expect_eq "a stale set --version through the leader: 3" 3 "$RUN_STATUS"
expect_eq "...nothing written on $follower" v1 "$(synced_content "$follower" cas)"
expect_eq "...version unchanged" "$((v + 1))" "$(xattr "$F/cas" user.zk.version)"

# --- a follower gone: the leader's status no longer lists it
for third in a b c; do
  [[ $third != "$leader" && $third != "$follower" ]] && break
done
stop_node "$third"
if wait_for 10 bash -c "! '$QC' status '$L' | grep -q '^peer\.${ID[$third]}='"; then
  pass "the leader drops a stopped follower from its status"
else
  fail "the leader still lists member ${ID[$third]}: $("$QC" status "$L" 2>&1 | tr '\n' '|')"
fi
expect_match "...and keeps the other" "peer\.${ID[$follower]}=follower synced" "$("$QC" status "$L" 2>&1)"

# --- no quorum: status says so, and a compare-and-set through the socket fails (exit 7,
# ZooKeeper's ConnectionLoss) after the write timeout, writing nothing
stop_node "$leader"
if wait_for 15 bash -c "'$QC' status '$F' | grep -q '^state=unsynced'"; then
  pass "status on a member without a quorum: state=unsynced"
else
  fail "status on $follower never said unsynced: $("$QC" status "$F" 2>&1 | tr '\n' '|')"
fi
expect_match "...role=read-only" "role=read-only" "$("$QC" status "$F" 2>&1)"
v=$(xattr "$F/cas" user.zk.version)
run_shell "'$QC' set --version $v '$F/cas' lost"
expect_eq "set --version without a quorum: 7" 7 "$RUN_STATUS"
expect_match "...says ConnectionLoss" "ConnectionLoss" "$RUN_OUTPUT"
expect_eq "...nothing written" v1 "$(cat "$F/cas")"

finish
