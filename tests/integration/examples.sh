#!/usr/bin/env bash
# The recipes of examples/ against a real daemon: each does what its header promises — a config
# watcher sees every change, members come and go with their processes, exactly one candidate
# leads and the next takes over, racing consumers never get the same item, a barrier opens only
# when the last participant arrives.
# shellcheck disable=SC2317  # (the small predicates below are called through wait_for)
source "$(dirname "$0")/lib.sh"

EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)
OUT=$TEST_TMP/out
mkdir -p "$OUT"

must_start_node a
M=$(mnt_of a)

# start_bg NAME CMD...: CMD in the background, stdout+stderr to $OUT/NAME, tracked for cleanup;
# its pid in BG_PID (and in BG[NAME]).
declare -A BG=()
start_bg() {
  local name=$1
  shift
  "$@" >"$OUT/$name" 2>&1 &
  BG_PID=$!
  BG[$name]=$BG_PID
  track_pid "$BG_PID"
}

output_has() { grep -qE -- "$2" "$OUT/$1"; }

# expect_output NAME REGEX [TIMEOUT_S]: the output of NAME gets a line matching REGEX (<= 10 s).
expect_output() {
  local name=$1 pattern=$2 timeout_s=${3:-10}
  if wait_for "$timeout_s" output_has "$name" "$pattern"; then
    pass "$name printed /$pattern/"
  else
    fail "$name did not print /$pattern/ within ${timeout_s}s; it printed: $(printable "$(cat "$OUT/$name")")"
  fi
}

# expect_exit NAME STATUS [TIMEOUT_S]: the background NAME exits with STATUS (<= 10 s).
expect_exit() {
  local name=$1 status=$2 timeout_s=${3:-10}
  if wait_pid_exit "${BG[$name]}" "$timeout_s"; then
    expect_eq "exit status of $name" "$status" "$WAITED_STATUS"
  else
    fail "$name (pid ${BG[$name]}) still running after ${timeout_s}s; it printed: $(printable "$(cat "$OUT/$name")")"
  fi
}

# expect_running NAME: the background NAME has not exited.
expect_running() {
  if kill -0 "${BG[$1]}" 2>/dev/null && [[ $(ps -o stat= -p "${BG[$1]}") != Z* ]]; then
    pass "$1 still running"
  else
    fail "$1 exited early; it printed: $(printable "$(cat "$OUT/$1")")"
  fi
}

# run_example NAME ARGS...: the example in the foreground (bounded); RUN_STATUS and RUN_OUTPUT.
run_example() {
  local name=$1
  shift
  RUN_OUTPUT=$(timeout 60 "$EXAMPLES/$name" "$@" 2>&1)
  RUN_STATUS=$?
}

count_lines() { if [[ -z $1 ]]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }

# =============================================================================================
# config-watch.sh: one atomic setData per `set`; the watcher prints every new content.
CONFIG=$M/config/app.conf

# last_config_block: what the watcher printed after its last "--- FILE" header, lines joined by |.
last_config_block() {
  awk -v header="--- $CONFIG" '$0 == header { block = ""; next } { block = block $0 "|" }
    END { printf "%s", block }' "$OUT/config-watch"
}
config_watch_shows() { [[ $(last_config_block) == "$1" ]]; }

start_bg config-watch "$EXAMPLES/config-watch.sh" "$M"
expect_output config-watch "^--- $CONFIG\$"
expect_exists "$CONFIG"

version_before=$(xattr "$CONFIG" user.zk.version)
run_example config-watch.sh "$M" set db=primary
expect_eq "config-watch.sh set db=primary: status" 0 "$RUN_STATUS"
expect_content "$CONFIG" "db=primary"
expect_eq "one set is one setData (version)" "$((version_before + 1))" "$(xattr "$CONFIG" user.zk.version)"
if wait_for 10 config_watch_shows "db=primary|"; then
  pass "the watcher printed db=primary"
else
  fail "the watcher did not print db=primary; it printed: $(printable "$(cat "$OUT/config-watch")")"
fi

run_example config-watch.sh "$M" set mode=fast
run_example config-watch.sh "$M" set db=replica
expect_content "$CONFIG" $'db=replica\nmode=fast'
if wait_for 10 config_watch_shows "db=replica|mode=fast|"; then
  pass "the watcher printed the replaced key"
else
  fail "the watcher's last print is not db=replica,mode=fast: $(printable "$(cat "$OUT/config-watch")")"
fi

# Concurrent sets of different keys: none is lost (each is a locked read-modify-write).
set_pids=()
for key in k1 k2 k3 k4 k5; do
  timeout 60 "$EXAMPLES/config-watch.sh" "$M" set "$key=v" >"$OUT/set-$key" 2>&1 &
  set_pids+=($!)
  track_pid "$!"
done
for pid in "${set_pids[@]}"; do wait_pid_exit "$pid" 30 || fail "a concurrent set (pid $pid) hung"; done
expect_eq "keys after 5 concurrent sets" "db=replica k1=v k2=v k3=v k4=v k5=v mode=fast" \
  "$(sort "$CONFIG" | tr '\n' ' ' | sed 's/ $//')"
if wait_for 10 config_watch_shows "$(tr '\n' '|' <"$CONFIG")"; then
  pass "the watcher's last print is the final content"
else
  fail "the watcher's last print is not the final content [$(printable "$(cat "$CONFIG")")]: $(printable "$(last_config_block)")"
fi

run_example config-watch.sh "$M" set novalue
expect_eq "config-watch.sh set without '=': usage status" 2 "$RUN_STATUS"

kill -TERM "${BG[config-watch]}"
expect_exit config-watch 0

# =============================================================================================
# membership.sh: a member is an ephemeral file that lives exactly as long as its process.
members() { timeout 60 "$EXAMPLES/membership.sh" "$M" list 2>&1 | tr '\n' ' ' | sed 's/ $//'; }

start_bg join-a "$EXAMPLES/membership.sh" "$M" join a
expect_output join-a "^joined as $M/members/a\$"
expect_eq "members after a joined" "a" "$(members)"
expect_eq "mode of members/" 2755 "$(stat -c %a "$M/members")"
expect_match "members/a is ephemeral" '^0x0*[1-9a-f][0-9a-f]*$' "$(xattr "$M/members/a" user.zk.ephemeralOwner)"
expect_content "$M/members/a" "pid=${BG[join-a]} host=$(hostname)"

start_bg members-watch "$EXAMPLES/membership.sh" "$M" watch
expect_output members-watch '^member a$'

start_bg join-b "$EXAMPLES/membership.sh" "$M" join b
expect_output join-b "^joined as "
expect_output members-watch '^join b$'
expect_eq "members after b joined" "a b" "$(members)"

# A name already taken: refused (NodeExists), and the holder is untouched.
run_example membership.sh "$M" join a
expect_eq "a second 'join a' fails" 1 "$RUN_STATUS"
expect_running join-a
expect_eq "members after the refused join" "a b" "$(members)"

kill -TERM "${BG[join-a]}"
expect_exit join-a 0
expect_absent "$M/members/a"
expect_output members-watch '^leave a$'
expect_eq "members after a left (SIGTERM)" "b" "$(members)"

kill -KILL "${BG[join-b]}"
wait_pid_exit "${BG[join-b]}" 5 || true
if wait_for 5 test ! -e "$M/members/b"; then
  pass "members/b gone after kill -9 of its member"
else
  fail "members/b still there 5 s after kill -9 of its member"
fi
expect_output members-watch '^leave b$'
expect_eq "members after b was killed" "" "$(members)"
expect_eq "the watcher's whole story" "member a|join b|leave a|leave b" \
  "$(tr '\n' '|' <"$OUT/members-watch" | sed 's/|$//')"

kill -TERM "${BG[members-watch]}"
expect_exit members-watch 0

# =============================================================================================
# leader-election.sh: exactly one leader; the successor of a departed node takes over.
LEADER_LOG=$TEST_TMP/leaders
: >"$LEADER_LOG"
ELECTION=$M/election

leaders() { cat "$LEADER_LOG"; }
leader_count_is() { [[ $(count_lines "$(leaders)") == "$1" ]]; }

# candidate NAME: a candidate whose CMD logs "NAME" and then serves until stopped.
candidate() {
  # shellcheck disable=SC2016  # ($1 and $2 are sh's)
  start_bg "candidate-$1" "$EXAMPLES/leader-election.sh" "$M" "$1" \
    sh -c 'echo "$1" >>"$2"; exec sleep 600' sh "$1" "$LEADER_LOG"
}

# node_of NAME: the election node whose data is NAME.
node_of() {
  local node
  for node in "$ELECTION"/n-*; do
    [[ $(cat "$node" 2>/dev/null) == "$1" ]] && echo "${node##*/}"
  done
}

# Two candidates at the same moment.
candidate alpha
candidate beta
wait_for 10 leader_count_is 1 || fail "no leader within 10 s: $(printable "$(cat "$OUT"/candidate-*)")"
sleep 1 # room for a second, wrong, leader to show up
expect_eq "leaders after two candidates started together" 1 "$(count_lines "$(leaders)")"
first=$(leaders)
case $first in
  alpha) second=beta ;;
  beta) second=alpha ;;
  *) fatal "the leader log holds [$first]" ;;
esac
expect_eq "mode of election/" 3755 "$(stat -c %a "$ELECTION")"
expect_eq "the leader's node is the lowest" "$(node_of "$first")" \
  "$(listing "$ELECTION" | cut -d' ' -f1)"
expect_output "candidate-$second" "^$second: waiting for $(node_of "$first")\$"

# A third candidate queues behind the second; when the second (not the leader) goes, the third
# waits on the leader instead, and nobody new leads.
candidate gamma
expect_output candidate-gamma "^gamma: waiting for $(node_of "$second")\$"
expect_eq "election nodes with three candidates" 3 "$(count_lines "$(ls "$ELECTION")")"
first_node=$(node_of "$first")
kill -TERM "${BG[candidate-$second]}"
expect_exit "candidate-$second" 0
expect_output candidate-gamma "^gamma: waiting for $first_node\$"
sleep 0.5
expect_eq "leaders after a follower left" "$first" "$(leaders)"

# The leader stops (SIGTERM: its CMD is stopped, it exits 0): gamma takes over.
kill -TERM "${BG[candidate-$first]}"
expect_exit "candidate-$first" 0
if wait_for 10 leader_count_is 2; then
  expect_eq "the leaders in order" "$first gamma" "$(leaders | tr '\n' ' ' | sed 's/ $//')"
else
  fail "gamma did not take over within 10 s: $(printable "$(cat "$OUT/candidate-gamma")")"
fi
expect_output candidate-gamma '^gamma: leader$'
expect_eq "election nodes after the old leader left" "$(node_of gamma)" "$(ls "$ELECTION")"

kill -TERM "${BG[candidate-gamma]}"
expect_exit candidate-gamma 0
if wait_for 5 test -z "$(ls "$ELECTION")"; then
  pass "no election node left"
else
  fail "election nodes left behind: $(listing "$ELECTION")"
fi

# A leader whose CMD ends: the script ends with CMD's status, and its node goes.
run_example leader-election.sh "$M" delta sh -c 'exit 3'
expect_eq "status of a candidate whose CMD exits 3" 3 "$RUN_STATUS"
expect_match "delta led" 'delta: leader' "$RUN_OUTPUT"
expect_listing "$ELECTION" ""

# A leader whose node goes (as when the ensemble closes its session: here removed by hand) stops
# its CMD and exits 1, saying so.
CMD_PID_FILE=$TEST_TMP/epsilon-cmd.pid
# shellcheck disable=SC2016
start_bg candidate-epsilon "$EXAMPLES/leader-election.sh" "$M" epsilon \
  sh -c 'echo $$ >"$1"; exec sleep 600' sh "$CMD_PID_FILE"
expect_output candidate-epsilon '^epsilon: leader$'
wait_for 5 test -s "$CMD_PID_FILE" || fail "epsilon's CMD did not start"
epsilon_cmd_pid=$(cat "$CMD_PID_FILE")
track_pid "$epsilon_cmd_pid"
epsilon_node=$(node_of epsilon)
rm -f -- "$ELECTION/$epsilon_node"
expect_exit candidate-epsilon 1
expect_output candidate-epsilon "epsilon: our node $epsilon_node was deleted" 1
expect_output candidate-epsilon 'epsilon: leadership lost; CMD stopped' 1
if kill -0 "$epsilon_cmd_pid" 2>/dev/null; then
  fail "epsilon's CMD (pid $epsilon_cmd_pid) still runs after its leadership was lost"
else
  pass "epsilon's CMD was stopped"
fi
expect_listing "$ELECTION" ""
RUN_OUTPUT=$(ELECTION_UNSYNCED_S=soon timeout 60 "$EXAMPLES/leader-election.sh" "$M" zeta true 2>&1)
expect_eq "ELECTION_UNSYNCED_S not a number: usage status" 2 "$?"
expect_listing "$ELECTION" ""

# =============================================================================================
# queue.sh: FIFO; of racing consumers exactly one gets each item; the queue ends empty.
QUEUE=$M/queue

queue_take() { timeout 60 "$EXAMPLES/queue.sh" "$M" take; }

for item in one two three; do
  run_example queue.sh "$M" put "$item"
  expect_eq "queue.sh put $item: status" 0 "$RUN_STATUS"
done
expect_eq "mode of queue/" 1755 "$(stat -c %a "$QUEUE")"
expect_listing "$QUEUE" "item-0000000000 item-0000000001 item-0000000002"
expect_content "$QUEUE/item-0000000000" one
expect_eq "first take" one "$(queue_take 2>&1)"
expect_eq "second take" two "$(queue_take 2>&1)"
expect_eq "third take" three "$(queue_take 2>&1)"
run_example queue.sh "$M" take
expect_eq "take on an empty queue: status" 1 "$RUN_STATUS"
expect_listing "$QUEUE" ""

# An item created but not yet written (its producer has not closed it) is not taken.
exec {unfinished_fd}>"$QUEUE/item-"
run_example queue.sh "$M" take
expect_eq "take skips an unfinished item: status" 1 "$RUN_STATUS"
echo late >&"$unfinished_fd"
exec {unfinished_fd}>&-
expect_eq "take after the producer closed" late "$(queue_take 2>&1)"

# Two consumers racing for two items, ten times: they always get different items.
race_rounds_ok=0
for round in 1 2 3 4 5 6 7 8 9 10; do
  "$EXAMPLES/queue.sh" "$M" put "x$round" && "$EXAMPLES/queue.sh" "$M" put "y$round"
  queue_take >"$OUT/take-1" 2>&1 &
  taker_1=$!
  track_pid "$taker_1"
  queue_take >"$OUT/take-2" 2>&1 &
  taker_2=$!
  track_pid "$taker_2"
  wait_pid_exit "$taker_1" 30 || true
  wait_pid_exit "$taker_2" 30 || true
  got=$(cat "$OUT/take-1" "$OUT/take-2" | sort | tr '\n' ' ')
  if [[ $got == "x$round y$round " ]]; then
    race_rounds_ok=$((race_rounds_ok + 1))
  else
    fail "round $round: two racing takes got [$(printable "$got")], expected x$round and y$round"
  fi
done
expect_eq "racing rounds where both takers got different items" 10 "$race_rounds_ok"
expect_listing "$QUEUE" ""

# Four consumers draining 24 items at once: every item is taken exactly once.
for i in $(seq -w 1 24); do "$EXAMPLES/queue.sh" "$M" put "job-$i"; done
expect_eq "items queued" 24 "$(count_lines "$(ls "$QUEUE")")"
consumer_pids=()
for consumer in 1 2 3 4; do
  (for _ in $(seq 1 30); do queue_take 2>/dev/null || break; done) >"$OUT/consumer-$consumer" &
  consumer_pids+=($!)
  track_pid "$!"
done
for pid in "${consumer_pids[@]}"; do wait_pid_exit "$pid" 60 || fail "consumer $pid hung"; done
expect_eq "all items taken exactly once" "$(seq -w 1 24 | sed 's/^/job-/' | tr '\n' ' ')" \
  "$(cat "$OUT"/consumer-* | sort | tr '\n' ' ')"
for consumer in 1 2 3 4; do
  expect_match "consumer $consumer took a share" '^job-' "$(cat "$OUT/consumer-$consumer")"
done
expect_listing "$QUEUE" ""

# =============================================================================================
# barrier.sh: released only when COUNT are present at once.
BARRIER=$M/barrier
barrier_has() { [[ $(listing "$BARRIER") == "$1" ]]; }

# One who gives up (SIGTERM) leaves and is not counted any more.
start_bg barrier-p1 env BARRIER_TIMEOUT_S=60 "$EXAMPLES/barrier.sh" "$M" p1 3
start_bg barrier-quitter env BARRIER_TIMEOUT_S=60 "$EXAMPLES/barrier.sh" "$M" quitter 3
wait_for 10 barrier_has "p1 quitter" || fail "p1 and quitter not both in the barrier: $(listing "$BARRIER")"
expect_eq "mode of barrier/" 2755 "$(stat -c %a "$BARRIER")"
kill -TERM "${BG[barrier-quitter]}"
expect_exit barrier-quitter 1
wait_for 5 barrier_has "p1" || fail "quitter's file still there: $(listing "$BARRIER")"

start_bg barrier-p2 env BARRIER_TIMEOUT_S=60 "$EXAMPLES/barrier.sh" "$M" p2 3
wait_for 10 barrier_has "p1 p2" || fail "p1 and p2 not both in the barrier: $(listing "$BARRIER")"
sleep 1.5
expect_running barrier-p1
expect_running barrier-p2
expect_eq "released before the third arrived" "" "$(cat "$OUT/barrier-p1" "$OUT/barrier-p2" | grep released)"

start_bg barrier-p3 env BARRIER_TIMEOUT_S=60 "$EXAMPLES/barrier.sh" "$M" p3 3
for participant in p1 p2 p3; do
  expect_exit "barrier-$participant" 0
  expect_output "barrier-$participant" "^$participant: released \\(3 of 3\\)\$" 1
done
wait_for 5 barrier_has "" || fail "barrier files left behind: $(listing "$BARRIER")"

# Alone with BARRIER_TIMEOUT_S=2: gives up with status 1 after about 2 s, and leaves.
started_s=$SECONDS
RUN_OUTPUT=$(BARRIER_TIMEOUT_S=2 timeout 60 "$EXAMPLES/barrier.sh" "$M" lone 2 2>&1)
RUN_STATUS=$?
elapsed_s=$((SECONDS - started_s))
expect_eq "a lone participant times out: status" 1 "$RUN_STATUS"
expect_match "it says so" 'lone: timed out after 2s' "$RUN_OUTPUT"
expect_match "it waited about BARRIER_TIMEOUT_S" '^[1-5]$' "$elapsed_s"
expect_listing "$BARRIER" ""

# Rounds: a participant that arrives while the previous round runs its CMD (their files still
# here) is not released by them: it counts only files no ready file names yet.
ROUNDS=$TEST_TMP/rounds
: >"$ROUNDS"
for participant in r1 r2; do
  # shellcheck disable=SC2016
  start_bg "barrier-$participant" "$EXAMPLES/barrier.sh" "$M" "$participant" 2 \
    sh -c 'echo "start $1" >>"$2"; sleep 6; echo "end $1" >>"$2"' sh "$participant" "$ROUNDS"
done
expect_output barrier-r1 '^r1: released \(2 of 2\)$'
expect_output barrier-r2 '^r2: released \(2 of 2\)$'
RUN_OUTPUT=$(BARRIER_TIMEOUT_S=2 timeout 60 "$EXAMPLES/barrier.sh" "$M" e1 2 2>&1)
expect_eq "a participant arriving during the round's CMD, alone: status" 1 "$?"
expect_match "it waited for a second of its own round" 'e1: timed out after 2s \(1 of 2\)' "$RUN_OUTPUT"
expect_eq "and the round's CMDs were still running" "" "$(grep '^end' "$ROUNDS")"
for participant in r1 r2; do
  expect_exit "barrier-$participant" 0 20
  expect_output "barrier-$participant" "^$participant: left \\(all gone\\)\$" 1
done
# The ready files of rounds that are over go when the next participant starts. (Both members of
# a round may have written one, each having counted both.)
ready_names() { cat "$M"/barrier.ready/r-* 2>/dev/null | cut -d' ' -f1 | sort -u | joined_words; }
joined_words() { tr '\n' ' ' | sed 's/ $//'; }
expect_eq "ready files after the round (e1's start removed the earlier rounds')" "r1 r2" "$(ready_names)"
start_bg barrier-s1 "$EXAMPLES/barrier.sh" "$M" s1 2
start_bg barrier-s2 "$EXAMPLES/barrier.sh" "$M" s2 2
for participant in s1 s2; do expect_exit "barrier-$participant" 0; done
expect_eq "ready files: the last round's only" "s1 s2" "$(ready_names)"
ready_files=("$M"/barrier.ready/r-*)
expect_match "a ready file names each as NAME CZXID" '^s1 0x[0-9a-f]+ s2 0x[0-9a-f]+$' \
  "$(sort "${ready_files[0]}" | joined_words)"
expect_listing "$BARRIER" ""

# =============================================================================================
# config-center.sh: a version whose event the kernel dropped (its inotify queue overflowed while
# the subscriber lagged) still reaches the subscriber, by its re-check.
APP=$M/app
printf '{"v":1}\n' | timeout 60 "$EXAMPLES/config-center.sh" "$M" publish >/dev/null || fail "publish of v1"
start_bg config-sub env CONFIG_RECHECK_S=2 "$EXAMPLES/config-center.sh" "$M" subscribe
expect_output config-sub '^\{"v":1\}$'
# watcher_of PID: the inotifywait PID runs.
watcher_of() { ps -o pid=,comm= --ppid "$1" | awk '$2 == "inotifywait" { print $1 }'; }
sub_watcher=$(watcher_of "${BG[config-sub]}")
[[ -n $sub_watcher ]] || fatal "no inotifywait under the subscriber"
# A probe with the same watch, stopped alike, shows that the queue did overflow.
start_bg overflow-probe inotifywait -m -e close_write -e moved_to --format 'event %e %f' -- "$APP"
expect_output overflow-probe '^Watches established\.$'
: >"$APP/flood-a"
: >"$APP/flood-b"
kill -STOP "$sub_watcher" "${BG[overflow-probe]}"
# Closes of descriptors opened for writing: an IN_CLOSE_WRITE each, nothing committed. Two names
# in turn, as the kernel merges an event identical to the one queued last.
flood=$(($(cat /proc/sys/fs/inotify/max_queued_events) / 2 + 10))
for ((i = 0; i < flood; i++)); do
  exec {flood_fd}>>"$APP/flood-a"
  exec {flood_fd}>&-
  exec {flood_fd}>>"$APP/flood-b"
  exec {flood_fd}>&-
done
printf '{"v":2}\n' | timeout 60 "$EXAMPLES/config-center.sh" "$M" publish >/dev/null || fail "publish of v2"
kill -CONT "$sub_watcher" "${BG[overflow-probe]}"
sleep 1
probe_events=$(grep -c '^event ' "$OUT/overflow-probe")
expect_eq "the probe's queue overflowed: config.json's event was dropped" 0 \
  "$(grep -c 'config\.json$' "$OUT/overflow-probe")"
log "the probe got $probe_events events of $((2 * flood + 1)) raised"
expect_output config-sub '^\{"v":2\}$' 15
expect_eq "v2 printed once" 1 "$(grep -c '^{"v":2}$' "$OUT/config-sub")"
kill -TERM "${BG[config-sub]}" "${BG[overflow-probe]}"
expect_exit config-sub 0
RUN_OUTPUT=$(CONFIG_RECHECK_S=0 timeout 60 "$EXAMPLES/config-center.sh" "$M" subscribe 2>&1)
expect_eq "CONFIG_RECHECK_S=0: usage status" 2 "$?"

finish
