#!/usr/bin/env bash
# The recipes of examples/ across the three mounts of a three-member ensemble: a config center
# whose subscribers on every host see each version at most once, never empty, and the last one;
# a service registry whose instances vanish everywhere when their process is killed and which is
# picked from by weight and survives a member's loss; a work queue processed exactly once by four
# consumers on three hosts while one is killed; a lock, a leader election, a double barrier and
# group membership that hold across hosts; a leader that stops when its host loses the quorum.
# shellcheck disable=SC2317  # (the small predicates below are called through wait_for)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)
OUT=$TEST_TMP/out
mkdir -p "$OUT"

ensemble_init 3
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b) C=$(mnt_of c)
MOUNTS=("$A" "$B" "$C")
log "leader: $(leader_name)"

# start_bg NAME CMD...: CMD in the background, stdout+stderr to $OUT/NAME, tracked for cleanup.
declare -A BG=()
start_bg() {
  local name=$1
  shift
  : >"$OUT/$name" # (there before the first look at it)
  "$@" >"$OUT/$name" 2>&1 &
  BG[$name]=$!
  track_pid "$!"
}
output_has() { grep -qE -- "$2" "$OUT/$1"; }
expect_output() {
  local name=$1 pattern=$2 timeout_s=${3:-10}
  if wait_for "$timeout_s" output_has "$name" "$pattern"; then
    pass "$name printed /$pattern/"
  else
    fail "$name did not print /$pattern/ within ${timeout_s}s; it printed: $(printable "$(tail -c 2000 "$OUT/$name")")"
  fi
}
expect_exit() {
  local name=$1 status=$2 timeout_s=${3:-10}
  if wait_pid_exit "${BG[$name]}" "$timeout_s"; then
    expect_eq "exit status of $name" "$status" "$WAITED_STATUS"
  else
    fail "$name (pid ${BG[$name]}) still running after ${timeout_s}s; it printed: $(printable "$(tail -c 2000 "$OUT/$name")")"
  fi
}
# kill_tree PID: kill -9 PID and its descendants (a script, flock, the CMD it runs), by PID.
kill_tree() {
  local child
  kill -STOP "$1" 2>/dev/null # (no new children meanwhile)
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -KILL "$1" 2>/dev/null
  wait_pid_exit "$1" 5 2>/dev/null || true
}
joined() { tr '\n' ' ' | sed 's/ $//'; }
same_on_all() { # same_on_all EXPECTED CMD_WITH_MOUNT...: CMD's output, joined, on every mount
  local expected=$1 mount
  shift
  for mount in "${MOUNTS[@]}"; do
    [[ $("$@" "$mount" 2>/dev/null | joined) == "$expected" ]] || return 1
  done
}

# =============================================================================================
# Config center: 30 versions published from the three hosts in turn, three subscribers.
publish() { # publish MOUNT CONTENT
  printf '%s\n' "$2" | CONFIG_HISTORY_N=5 timeout 60 "$EXAMPLES/config-center.sh" "$1" publish
}
publish "$A" '{"rev":0}' >/dev/null || fail "first publish"
for host in a b c; do
  start_bg "sub-$host" "$EXAMPLES/config-center.sh" "$(mnt_of "$host")" subscribe
done
for host in a b c; do expect_output "sub-$host" '^\{"rev":0\}$'; done
for rev in $(seq 1 30); do
  publish "${MOUNTS[rev % 3]}" "{\"rev\":$rev}" >/dev/null || fail "publish of rev $rev"
done
expect_eq "config.json read on c" '{"rev":30}' "$(cat "$C/app/config.json")"
# subscriber_story HOST: the revs printed, in order, and any line that is neither header nor rev.
subscriber_story() {
  awk '/^--- version [0-9]+ mzxid 0x[0-9a-f]+$/ { next }
       /^\{"rev":[0-9]+\}$/ { sub(/^\{"rev":/, ""); sub(/\}$/, ""); printf "%s ", $0; next }
       { printf "BAD[%s] ", $0 }' "$OUT/sub-$1"
}
mzxid_regressions() { # mzxid_regressions FILE: headers whose mzxid is not above the one before
  local last=-1 last_hex=none mzxid
  while read -r _ _ _ _ mzxid; do
    ((mzxid > last)) || echo "mzxid $mzxid after $last_hex"
    last=$((mzxid)) last_hex=$mzxid
  done < <(grep '^--- version' "$1")
}
last_rev_is_30() { [[ $(subscriber_story "$1") == *" 30 " ]]; }
for host in a b c; do
  wait_for 10 last_rev_is_30 "$host" || fail "subscriber on $host did not print rev 30"
done
# Events that bring no new version: a close of a descriptor opened for writing raises
# IN_CLOSE_WRITE on its host and commits nothing. The subscribers reload and print nothing.
declare -A headers_before=()
for host in a b c; do headers_before[$host]=$(grep -c '^--- version' "$OUT/sub-$host"); done
mzxid_before=$(xattr "$A/app/config.json" user.zk.mzxid)
for mount in "$A" "$B" "$C"; do
  for _ in 1 2 3; do exec {spurious_fd}>>"$mount/app/config.json"; exec {spurious_fd}>&-; done
done
expect_eq "those closes committed nothing" "$mzxid_before" "$(xattr "$A/app/config.json" user.zk.mzxid)"
sleep 1
for host in a b c; do
  expect_eq "subscriber on $host printed nothing for them" "${headers_before[$host]}" "$(grep -c '^--- version' "$OUT/sub-$host")"
  story=$(subscriber_story "$host")
  expect_match "subscriber on $host: only headers and whole versions" '^([0-9]+ )+$' "$story"
  # Each version at most once, in order: strictly increasing revs and mzxids.
  expect_eq "subscriber on $host: revs strictly increasing" "" \
    "$(tr ' ' '\n' <<<"$story" | awk 'NF { if (seen && $1 <= last) print "not after " last ": " $1; last = $1; seen = 1 }')"
  expect_eq "subscriber on $host: headers strictly increasing" "" \
    "$(mzxid_regressions "$OUT/sub-$host")"
  expect_eq "subscriber on $host: as many headers as versions" \
    "$(grep -c '^--- version' "$OUT/sub-$host")" "$(grep -c '^{"rev"' "$OUT/sub-$host")"
  log "subscriber on $host saw $(wc -w <<<"$story") of 31 versions"
done
expect_eq "history keeps the last 5" '{"rev":26} {"rev":27} {"rev":28} {"rev":29} {"rev":30}' \
  "$("$EXAMPLES/config-center.sh" "$B" history | cut -d' ' -f2- | joined)"
expect_eq "history/ holds 5 nodes" 5 "$(ls "$A/app/history" | wc -l)"
version_before=$(xattr "$A/app/config.json" user.zk.version)
RUN_OUTPUT=$(printf '' | timeout 60 "$EXAMPLES/config-center.sh" "$A" publish 2>&1)
expect_eq "an empty publish fails" 1 "$?"
expect_match "and says why" 'refusing to publish an empty config' "$RUN_OUTPUT"
expect_eq "config.json unchanged by it" "$version_before" "$(xattr "$A/app/config.json" user.zk.version)"
RUN_OUTPUT=$(echo '{}' | CONFIG_HISTORY_N=0 timeout 60 "$EXAMPLES/config-center.sh" "$A" publish 2>&1)
expect_eq "CONFIG_HISTORY_N=0: usage status" 2 "$?"
expect_eq "config.json unchanged by that" "$version_before" "$(xattr "$A/app/config.json" user.zk.version)"
for host in a b c; do kill -TERM "${BG[sub-$host]}"; expect_exit "sub-$host" 0; done

# =============================================================================================
# Registry: instances on three hosts, one unhealthy; kill -9 of one; weighted picks.
register() { # register NAME MOUNT ARGS...
  local name=$1 mount=$2
  shift 2
  start_bg "$name" "$EXAMPLES/registry.sh" "$mount" register orders "$@"
  expect_output "$name" '^registered '
}
registry_list() { timeout 60 "$EXAMPLES/registry.sh" "$1" list orders; }
register i1 "$A" 10.0.0.1:8080 weight=1
start_bg registry-watch "$EXAMPLES/registry.sh" "$B" watch orders
expect_output registry-watch '^--- 1 healthy$'
register i2 "$B" 10.0.0.2:8080 weight=3 cluster=east
register i3 "$C" 10.0.0.3:8080 weight=1
register i4 "$A" 10.0.0.4:8080 weight=5 healthy=false
all3="10.0.0.1:8080 1 DEFAULT 10.0.0.2:8080 3 east 10.0.0.3:8080 1 DEFAULT"
wait_for 10 same_on_all "$all3" registry_list || fail "healthy instances not the same on every host"
for mount in "$A" "$B" "$C"; do expect_eq "healthy instances on $mount" "$all3" "$(registry_list "$mount" | joined)"; done
expect_eq "i2's JSON read on c" '10.0.0.2 8080 3 true east' \
  "$(jq -r '"\(.ip) \(.port) \(.weight) \(.healthy) \(.cluster)"' "$C/services/orders/10.0.0.2:8080")"
expect_match "i4 is registered, unhealthy" '"healthy":false' "$(cat "$B/services/orders/10.0.0.4:8080")"
expect_match "the instance is ephemeral" '^0x0*[1-9a-f]' "$(xattr "$A/services/orders/10.0.0.3:8080" user.zk.ephemeralOwner)"
expect_output registry-watch '^--- 3 healthy$'
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/registry.sh" "$C" register orders 10.0.0.1:8080 2>&1)
expect_eq "registering a taken address on c fails" 1 "$?"
expect_eq "the holder's JSON is untouched" 1 "$(jq .weight "$C/services/orders/10.0.0.1:8080")"

kill -KILL "${BG[i3]}"
two="10.0.0.1:8080 1 DEFAULT 10.0.0.2:8080 3 east"
if wait_for 5 same_on_all "$two" registry_list; then
  pass "kill -9 of i3 (on c) removed it on every host"
else
  fail "after kill -9 of i3: $(printable "$(registry_list "$A")") on a"
fi
for mount in "$A" "$B" "$C"; do expect_absent "$mount/services/orders/10.0.0.3:8080"; done
expect_output registry-watch '^--- 2 healthy$'
picks=$(timeout 60 "$EXAMPLES/registry.sh" "$C" pick orders 200)
picks_2=$(grep -c '^10.0.0.2:8080$' <<<"$picks")
picks_1=$(grep -c '^10.0.0.1:8080$' <<<"$picks")
expect_eq "200 picks, all of healthy instances" 200 "$((picks_1 + picks_2))"
log "200 picks at weights 1:3: $picks_1 : $picks_2"
# Expected 150 of 200 for weight 3 of 4 (sd 6.1): a loose bound.
if ((picks_2 >= 125 && picks_2 <= 175)); then pass "picks follow the weights"; else fail "weight 3 of 4 picked $picks_2 times of 200"; fi
# Health: SIGUSR1 marks i2 unhealthy (one commit of its JSON), SIGUSR2 healthy again.
I2=services/orders/10.0.0.2:8080
version_before=$(xattr "$B/$I2" user.zk.version)
kill -USR1 "${BG[i2]}"
expect_output i2 '^healthy=false$'
if wait_for 5 same_on_all "10.0.0.1:8080 1 DEFAULT" registry_list; then
  pass "i2 marked unhealthy is left out on every host"
else
  fail "after SIGUSR1 to i2, c lists: $(registry_list "$C" | joined)"
fi
expect_eq "one commit for the health change" "$((version_before + 1))" "$(xattr "$B/$I2" user.zk.version)"
expect_eq "its JSON read on a" "false east 3" "$(jq -r '"\(.healthy) \(.cluster) \(.weight)"' "$A/$I2")"
expect_output registry-watch '^--- 1 healthy$'
expect_eq "20 picks never give the unhealthy instance" "10.0.0.1:8080" \
  "$(timeout 60 "$EXAMPLES/registry.sh" "$C" pick orders 20 | sort -u | joined)"
kill -USR2 "${BG[i2]}"
expect_output i2 '^healthy=true$'
wait_for 5 same_on_all "$two" registry_list || fail "after SIGUSR2 to i2, c lists: $(registry_list "$C" | joined)"
expect_eq "i2 still registered with one more commit" "$((version_before + 2))" "$(xattr "$B/$I2" user.zk.version)"
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/registry.sh" "$A" pick nosuchservice 2>&1)
expect_eq "pick of a service with no instance fails" 1 "$?"
expect_match "and says so" 'no healthy instance of nosuchservice' "$RUN_OUTPUT"
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/registry.sh" "$A" register orders 10.0.0.9:8080 weight=-1 2>&1)
expect_eq "a negative weight: usage status" 2 "$?"
expect_absent "$A/services/orders/10.0.0.9:8080"

# =============================================================================================
# Queue: 4 producers and 4 consumers on three hosts; one consumer killed holding a claim.
QSTATE=$A/queue.d
# shellcheck disable=SC2016  # ($1 and $2 are sh's)
consumer_cmd=(sh -c 'read -r line; echo "$line" >>"$1"; sleep 0.1; echo "result-$line"' sh "$OUT/executions")
for spec in q1:a q2:b q3:c q4:a; do
  start_bg "${spec%:*}" env QUEUE_RECHECK_S=2 "$EXAMPLES/queue.sh" "$(mnt_of "${spec#*:}")" consume "${spec%:*}" "${consumer_cmd[@]}"
done
for consumer in q1 q2 q3 q4; do expect_output "$consumer" "^$consumer: consuming\$"; done
for spec in p1:a p2:b p3:c p4:b; do
  # shellcheck disable=SC2016
  start_bg "${spec%:*}" bash -c 'for i in $(seq -w 1 25); do timeout 60 "$1" "$2" put "$3-$i" || exit 1; done' \
    sh "$EXAMPLES/queue.sh" "$(mnt_of "${spec#*:}")" "${spec%:*}"
done
# kill_q2_holding_claim: kill -9 q2 if, stopped, it holds a claim (on its own host, b); else let
# it go on. (A claim is item-N: item-N.result is a result not committed yet.)
kill_q2_holding_claim() {
  output_has q2 'done item' || return 1
  kill -STOP "${BG[q2]}"
  if compgen -G "$B/queue.d/claimed/q2/item-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]" >/dev/null; then
    log "kill -9 of consumer q2 while it holds $(ls "$B/queue.d/claimed/q2" | joined)"
    kill -KILL "${BG[q2]}" # its CMD ends by itself: the node goes then
    return 0
  fi
  kill -CONT "${BG[q2]}"
  return 1
}
wait_for 30 kill_q2_holding_claim || fail "consumer q2 never held a claim after its first item"
for producer in p1 p2 p3 p4; do expect_exit "$producer" 0 60; done
done_count() { ls "$QSTATE/done" | wc -l; }
done_count_is() { [[ $(done_count) == "$1" ]]; }
wait_for 60 done_count_is 100 || fail "results after 60 s: $(done_count) of 100"
expected=$(for p in p1 p2 p3 p4; do seq -w 1 25 | sed "s/^/result-$p-/"; done | sort | joined)
expect_eq "every item has exactly one result" "$expected" "$(cat "$QSTATE"/done/* | sort | joined)"
expect_eq "the queue is empty" "" "$(ls "$A/queue")"
expect_eq "no claim left" "" "$(find "$QSTATE/claimed" -type f | joined)"
expect_match "q2's claim was requeued by another consumer" 'requeued item-[0-9]+ of q2' "$(cat "$OUT"/q[134])"
log "items executed $(wc -l <"$OUT/executions") times for 100 items (a re-run commits nothing)"
for consumer in q1 q3 q4; do expect_match "$consumer took a share" 'done item' "$(cat "$OUT/$consumer")"; done
# A claim whose owner is gone and whose result is committed already: requeued, then dropped.
mkdir -p "$QSTATE/claimed/ghost"
printf 'ghost\n' | tee "$QSTATE/claimed/ghost/item-0000099999" >/dev/null
printf 'first result\n' | tee "$QSTATE/done/item-0000099999" >/dev/null
"$EXAMPLES/queue.sh" "$B" put wake-up
wait_for 10 test ! -e "$QSTATE/claimed/ghost/item-0000099999" || fail "the ghost's claim was not requeued"
wait_for 10 done_count_is 102 || fail "results: $(done_count) of 102"
expect_content "$QSTATE/done/item-0000099999" "first result"
expect_match "a consumer dropped the re-run" 'already done item-0000099999' "$(cat "$OUT"/q[134])"
# A requeue removes the result file of each claim it moves, and only that one: a gone owner's
# NAME may be back meanwhile, have claimed an item again and written its result in the same
# directory (here item-0000099996.result, standing for that; its claim is not in the listing).
mkdir -p "$QSTATE/claimed/ghost3"
printf 'ghost3\n' | tee "$QSTATE/claimed/ghost3/item-0000099997" >/dev/null
printf 'half-run\n' | tee "$QSTATE/claimed/ghost3/item-0000099997.result" >/dev/null
printf 'fresh result\n' | tee "$QSTATE/claimed/ghost3/item-0000099996.result" >/dev/null
"$EXAMPLES/queue.sh" "$C" put wake-up-2
wait_for 10 test ! -e "$QSTATE/claimed/ghost3/item-0000099997" || fail "ghost3's claim was not requeued"
wait_for 10 done_count_is 104 || fail "results: $(done_count) of 104"
expect_eq "ghost3's item committed once, run again" "result-ghost3" "$(cat "$QSTATE/done/item-0000099997")"
expect_absent "$QSTATE/claimed/ghost3/item-0000099997.result"
expect_content "$QSTATE/claimed/ghost3/item-0000099996.result" "fresh result"
rm -rf "$QSTATE/claimed/ghost3"
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/queue.sh" "$C" consume q1 cat 2>&1)
expect_eq "a second live consumer named q1 (on c) fails" 1 "$?"
expect_match "as its name is taken (O_EXCL)" 'cannot overwrite existing file' "$RUN_OUTPUT"
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/queue.sh" "$C" consume ../x cat 2>&1)
expect_eq "a bad consumer name: usage status" 2 "$?"
for consumer in q1 q3 q4; do kill -TERM "${BG[$consumer]}"; expect_exit "$consumer" 0; done
# A CMD that fails: its item goes to queue.d/failed/, with no result.
start_bg qf "$EXAMPLES/queue.sh" "$B" consume qf sh -c 'exit 3'
expect_output qf '^qf: consuming$'
"$EXAMPLES/queue.sh" "$A" put poison
expect_output qf 'CMD failed on item-[0-9]+; moved to '
expect_eq "the failed item is kept in failed/" poison "$(cat "$QSTATE"/failed/item-* 2>&1)"
expect_eq "and has no result" 104 "$(done_count)"
kill -TERM "${BG[qf]}"
expect_exit qf 0
# A result committed by another while CMD ran (a requeued item run twice at once): the commit is
# a rename that refuses to replace it, and the consumer drops its own.
mkdir -p "$QSTATE/claimed/ghost2"
printf 'ghost2\n' | tee "$QSTATE/claimed/ghost2/item-0000099998" >/dev/null
# shellcheck disable=SC2016
start_bg qd "$EXAMPLES/queue.sh" "$C" consume qd sh -c 'read -r data
  [ "$data" = ghost2 ] && printf "the other result\n" >"$1/done/item-0000099998"
  echo "mine-$data"' sh "$C/queue.d"
expect_output qd 'duplicate item-0000099998 dropped'
expect_content "$QSTATE/done/item-0000099998" "the other result"
wait_for 5 test -z "$(ls "$QSTATE/claimed/qd")" || fail "qd's claim left: $(listing "$QSTATE/claimed/qd")"
kill -TERM "${BG[qd]}"
expect_exit qd 0
wait_for 5 test -z "$(ls "$QSTATE/consumers")" || fail "consumer nodes left: $(listing "$QSTATE/consumers")"

# =============================================================================================
# Lock: 6 workers on three hosts increment one counter 10 times each under lock.sh.
put "$A/counter" 0
for spec in w1:a w2:b w3:c w4:a w5:b w6:c; do
  # shellcheck disable=SC2016
  start_bg "${spec%:*}" bash -c 'for _ in $(seq 1 10); do
      timeout 60 "$1" "$2" counter sh -c '\''n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "token $LOCK_TOKEN"'\'' sh "$2/counter" || exit 1
    done' sh "$EXAMPLES/lock.sh" "$(mnt_of "${spec#*:}")"
done
for worker in w1 w2 w3 w4 w5 w6; do expect_exit "$worker" 0 60; done
expect_eq "the counter after 60 increments under the lock, from three hosts" 60 "$(synced_content b counter)"
tokens=$(cat "$OUT"/w[1-6] | grep -c '^token 0x[0-9a-f]*$')
expect_eq "every holder had a fencing token" 60 "$tokens"
expect_eq "the tokens are distinct" 60 "$(cat "$OUT"/w[1-6] | grep '^token' | sort -u | wc -l)"
start_bg holder "$EXAMPLES/lock.sh" "$A" counter sh -c 'echo held; exec sleep 600'
expect_output holder '^held$'
started_s=$SECONDS
RUN_OUTPUT=$(LOCK_WAIT_S=1 timeout 60 "$EXAMPLES/lock.sh" "$C" counter echo never 2>&1)
expect_eq "LOCK_WAIT_S=1 on c while a holds: status" 1 "$?"
expect_match "and says why" 'held elsewhere; gave up after 1 s' "$RUN_OUTPUT"
expect_match "within a few seconds" '^[0-4]$' "$((SECONDS - started_s))"
expect_match "status on b shows the holder" '^write-lock-[0-9]+ .*mode=exclusive' "$("$EXAMPLES/lock.sh" "$B" counter status)"
RUN_OUTPUT=$(timeout 60 "$EXAMPLES/lock.sh" "$A" ../etc true 2>&1)
expect_eq "a bad lock name: usage status" 2 "$?"
kill_tree "${BG[holder]}"
expect_eq "the lock is free once its holder was killed" ok \
  "$(LOCK_WAIT_S=5 timeout 60 "$EXAMPLES/lock.sh" "$B" counter echo ok)"
# With LOCK_WAIT_S, CMD's own status comes back as it is, 75 (EX_TEMPFAIL) and 1 included: only
# a lock not had is "held elsewhere".
for cmd_status in 75 1; do
  RUN_OUTPUT=$(LOCK_WAIT_S=5 timeout 60 "$EXAMPLES/lock.sh" "$B" counter sh -c "exit $cmd_status" 2>&1)
  expect_eq "LOCK_WAIT_S=5, a free lock, CMD exits $cmd_status: status" "$cmd_status" "$?"
  expect_eq "and nothing said about the lock" "" "$RUN_OUTPUT"
done

# =============================================================================================
# Leader election: a candidate on each host; kill -9 of the leader elects its successor only.
LEADERS=$OUT/leaders
: >"$LEADERS"
candidate() { # candidate NAME MOUNT
  # shellcheck disable=SC2016
  start_bg "cand-$1" "$EXAMPLES/leader-election.sh" "$2" "$1" sh -c 'echo "$1" >>"$2"; exec sleep 600' sh "$1" "$LEADERS"
  expect_output "cand-$1" "^$1: candidate n-[0-9]+\$"
}
leaders_are() { [[ $(joined <"$LEADERS") == "$1" ]]; }
candidate alpha "$A"
wait_for 10 leaders_are alpha || fail "alpha did not lead: $(printable "$(cat "$OUT/cand-alpha")")"
candidate beta "$B"
candidate gamma "$C"
expect_output cand-beta '^beta: waiting for '
expect_output cand-gamma '^gamma: waiting for '
kill_tree "${BG[cand-alpha]}"
if wait_for 10 leaders_are "alpha beta"; then pass "beta (on b) leads after alpha (on a) was killed"; else fail "leaders: $(joined <"$LEADERS")"; fi
sleep 0.5
expect_eq "gamma still waits (no herd)" "alpha beta" "$(joined <"$LEADERS")"
kill -TERM "${BG[cand-beta]}"
expect_exit cand-beta 0
if wait_for 10 leaders_are "alpha beta gamma"; then pass "gamma (on c) leads after beta"; else fail "leaders: $(joined <"$LEADERS")"; fi
kill -TERM "${BG[cand-gamma]}"
expect_exit cand-gamma 0

# =============================================================================================
# Double barrier: three participants on three hosts; nobody starts before all entered, nobody
# goes past before all finished.
DOUBLE=$OUT/double
: >"$DOUBLE"
participant() { # participant NAME MOUNT WORK_S
  # shellcheck disable=SC2016
  start_bg "$1" bash -c '"$@"; status=$?; echo "past $2" >>"$0"; exit "$status"' "$DOUBLE" \
    "$EXAMPLES/barrier.sh" "$2" "$1" 3 sh -c 'echo "start $1" >>"$3"; sleep "$2"; echo "end $1" >>"$3"' sh "$1" "$3" "$DOUBLE"
}
participant d1 "$A" 0.1
participant d2 "$B" 0.3
expect_output d1 '^d1: waiting \(2 of 3\)$'
expect_output d2 '^d2: waiting \(2 of 3\)$'
expect_eq "nobody started before the third entered" "" "$(cat "$DOUBLE")"
participant d3 "$C" 1.5
for participant in d1 d2 d3; do
  expect_exit "$participant" 0 20
  expect_output "$participant" "^$participant: left \\(all gone\\)\$" 1
done
# (Starts and ends may interleave: d1's short CMD may end before d3's begins.)
expect_eq "the double barrier's story: 3 starts and 3 ends, then 3 passes" "end end end past past past" \
  "$(grep -v '^start' "$DOUBLE" | cut -d' ' -f1 | joined)"
expect_eq "every participant started" "start d1 start d2 start d3" "$(grep '^start' "$DOUBLE" | sort | joined)"
expect_eq "the barrier is empty" "" "$(ls "$B/barrier")"

# =============================================================================================
# Membership: members on three hosts; kill -9 of one is seen everywhere.
for spec in m1:a m2:b m3:c; do
  start_bg "${spec%:*}" "$EXAMPLES/membership.sh" "$(mnt_of "${spec#*:}")" join "${spec%:*}"
  expect_output "${spec%:*}" '^joined as '
done
start_bg members-watch "$EXAMPLES/membership.sh" "$A" watch
members_list() { timeout 60 "$EXAMPLES/membership.sh" "$1" list; }
wait_for 10 same_on_all "m1 m2 m3" members_list || fail "members differ between hosts"
expect_output members-watch '^member m3$'
kill -KILL "${BG[m2]}"
if wait_for 5 same_on_all "m1 m3" members_list; then pass "m2 (on b) gone on every host after kill -9"; else fail "members on a: $(members_list "$A" | joined)"; fi
expect_output members-watch '^leave m2$'
for member in m1 m3; do kill -TERM "${BG[$member]}"; expect_exit "$member" 0; done
kill -TERM "${BG[members-watch]}"

# =============================================================================================
# The registry survives a member's loss: stop c; read and register through a and b.
stop_node c || fail "member c did not stop cleanly"
MOUNTS=("$A" "$B")
wait_writable a 20 || fatal "no leader among a and b within 20 s"
expect_eq "instances listed on a after c stopped" "$two" "$(registry_list "$A" | joined)"
register i5 "$A" 10.0.0.5:8080 weight=2
if wait_for 5 same_on_all "$two 10.0.0.5:8080 2 DEFAULT" registry_list; then
  pass "a registration through a is listed on b with c stopped"
else
  fail "with c stopped, b lists: $(registry_list "$B" | joined)"
fi
expect_output registry-watch '^10.0.0.5:8080 2 DEFAULT$'
for instance in i1 i2 i4 i5; do kill -TERM "${BG[$instance]}"; expect_exit "$instance" 0; done
kill -TERM "${BG[registry-watch]}"

# =============================================================================================
# A leader whose host loses the quorum: b leads, a stops too (c is down), b says unsynced; after
# ELECTION_UNSYNCED_S the leader stops its CMD and exits 1 (the ensemble may elect another once
# the session timeout has passed).
# shellcheck disable=SC2016
start_bg cand-omega env ELECTION_UNSYNCED_S=1 "$EXAMPLES/leader-election.sh" "$B" omega \
  sh -c 'echo "$$" >"$1"; exec sleep 600' sh "$OUT/omega-cmd.pid"
expect_output cand-omega '^omega: leader$'
wait_for 5 test -s "$OUT/omega-cmd.pid" || fail "omega's CMD did not start"
omega_cmd_pid=$(cat "$OUT/omega-cmd.pid")
track_pid "$omega_cmd_pid"
stop_node a || fail "member a did not stop cleanly"
expect_exit cand-omega 1 30
expect_output cand-omega 'omega: this host has had no quorum for 1s' 1
expect_output cand-omega 'omega: leadership lost; CMD stopped' 1
if kill -0 "$omega_cmd_pid" 2>/dev/null; then fail "omega's CMD still runs"; else pass "omega's CMD was stopped"; fi

finish
