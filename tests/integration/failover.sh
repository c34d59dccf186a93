#!/usr/bin/env bash
# Losing the leader under a write load: a new leader, writes resume, no acknowledged write lost;
# the old leader comes back and catches up (DIFF); a member far behind catches up by SNAP; a
# process without the ensemble's secret cannot join.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3
# A small DIFF window: a member that misses more than 40 txns gets a snapshot.
start_members a b c -- --diff-window 40
wait_writable a 20 || fatal "no leader within 20 s"
leader=$(leader_name)
[[ -n $leader ]] || fatal "no member says it leads"
writer_host=a
[[ $leader == a ]] && writer_host=b
W=$(mnt_of "$writer_host")
log "leader $leader, writing through $writer_host"

# --- kill -9 the leader while a writer on another host keeps writing
acked=$TEST_TMP/acked
: >"$acked"
(
  for ((i = 1; i <= 100000; i++)); do
    if printf 'value %d' "$i" | timeout 30 dd of="$W/load-$i" status=none 2>/dev/null; then
      echo "$i" >>"$acked"
    fi
    [[ -e $TEST_TMP/stop-writer ]] && break
  done
) &
writer=$!
track_pid "$writer"
acked_more_than() { (($(wc -l <"$acked") > $1)); }
has_content() { [[ $(synced_content "$1" "$2") == "$3" ]]; }
wait_for 10 test -s "$acked" || fail "no write acknowledged before the kill"
sleep 0.5
before_kill=$(wc -l <"$acked")
stop_node "$leader" KILL || true
killed_at=$SECONDS
wait_for 20 acked_more_than $((before_kill + 20)) || fail "writes did not resume within 20 s of the leader's death"
log "writes resumed; $(wc -l <"$acked") acknowledged, $((SECONDS - killed_at)) s after the kill"
touch "$TEST_TMP/stop-writer"
wait_pid_exit "$writer" 40 || fail "the writer did not stop"
new_leader=$(leader_name)
expect_match "a new leader among the survivors" "^[abc]$" "$new_leader"
[[ $new_leader != "$leader" ]] || fail "the dead member still counted as leader"

# Every acknowledged write is on every surviving member.
lost=0
for name in a b c; do
  [[ $name == "$leader" ]] && continue
  sync "$(mnt_of "$name")" 2>/dev/null
  while read -r i; do
    [[ $(cat "$(mnt_of "$name")/load-$i" 2>/dev/null) == "value $i" ]] || { lost=$((lost + 1)); log "load-$i missing on $name"; }
  done <"$acked"
done
expect_eq "acknowledged writes lost" 0 "$lost"

# --- the old leader comes back and catches up (thousands of txns behind: by SNAP)
last=$(tail -n 1 "$acked")
start_member "$leader" "$TEST_TMP/$leader.cfg" --diff-window 40 || fatal "could not restart $leader"
if wait_for 20 has_content "$leader" "load-$last" "value $last"; then
  pass "the old leader caught up"
else
  fail "the old leader does not have load-$last 20 s after its restart"
fi

# --- a member a few txns behind catches up by DIFF
stop_node "$leader" || fail "$leader did not stop cleanly"
survivor=a
[[ $leader == a ]] && survivor=b
for ((i = 1; i <= 10; i++)); do put "$(mnt_of "$survivor")/diff-$i" "d$i" || fail "write diff-$i on $survivor"; done
log_lines=$(($(wc -l <"$(log_of "$leader")") + 1))
start_member "$leader" "$TEST_TMP/$leader.cfg" --diff-window 40 || fatal "could not restart $leader"
if wait_for 20 has_content "$leader" diff-10 d10; then pass "10 txns behind, it caught up"; else fail "no diff-10 on $leader"; fi
if tail -n +"$log_lines" "$(log_of "$leader")" | grep -q installed; then
  fail "10 txns behind, it was sent a snapshot instead of a DIFF"
else
  pass "10 txns behind, it caught up without a snapshot (DIFF)"
fi

# --- a member far behind catches up by SNAP
behind=$writer_host
[[ $behind == "$new_leader" ]] && behind=$leader
other=""
for name in a b c; do [[ $name != "$behind" ]] && other=$name; done
stop_node "$behind" || fail "$behind did not stop cleanly"
for ((i = 1; i <= 60; i++)); do put "$(mnt_of "$other")/snap-$i" "s$i" || fail "write snap-$i on $other"; done
log_lines=$(($(wc -l <"$(log_of "$behind")") + 1))
start_member "$behind" "$TEST_TMP/$behind.cfg" --diff-window 40 || fatal "could not restart $behind"
if wait_for 20 has_content "$behind" snap-60 s60; then
  pass "$behind caught up after missing 60 txns"
else
  fail "$behind does not have snap-60 20 s after its restart"
fi
expect_match "it was sent a snapshot" "snapshot .* installed" "$(tail -n +"$log_lines" "$(log_of "$behind")")"
expect_eq "and holds the older data too" "value 1" "$(cat "$(mnt_of "$behind")/load-1" 2>/dev/null)"

# --- a process without the secret cannot join
stop_node c || true
printf 'not-the-secret\n' >"$TEST_TMP/wrong-secret"
cp "$TEST_TMP/c.cfg" "$TEST_TMP/c-impostor.cfg"
sed -i "s|^peerSecretFile=.*|peerSecretFile=$TEST_TMP/wrong-secret|" "$TEST_TMP/c-impostor.cfg"
start_member c "$TEST_TMP/c-impostor.cfg" || fatal "could not start the impostor"
sleep 2
refusals=$(grep -hiE 'refus|reject|authenticat' "$(log_of a)" "$(log_of b)" | grep -c 'peer\|3' || true)
((refusals > 0)) && pass "the members logged the impostor's refusal" || fail "no refusal logged by a or b"
expect_errno "printf x | dd status=none of='$(mnt_of c)/impostor'" "Resource temporarily unavailable"
expect_absent "$(mnt_of a)/impostor"
stop_node c || true

# --- no quorum: reads go on, a write waits writeTimeout (4 s) and fails as never applied
survivor=a
[[ $(leader_name) == a ]] && survivor=b
for name in a b; do [[ $name != "$survivor" ]] && stop_node "$name"; done
expect_eq "reads go on without a quorum" "value 1" "$(cat "$(mnt_of "$survivor")/load-1" 2>/dev/null)"
started=$SECONDS
expect_errno "printf x | dd status=none of='$(mnt_of "$survivor")/no-quorum'" "Resource temporarily unavailable"
((SECONDS - started >= 3)) && pass "the write waited for a leader first" || fail "the write failed after only $((SECONDS - started)) s"
expect_absent "$(mnt_of "$survivor")/no-quorum"

finish
