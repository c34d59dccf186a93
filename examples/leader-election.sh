#!/usr/bin/env bash
# Leader election, ZooKeeper's recipe: every candidate creates an ephemeral-sequential node in
# MOUNT/election (sticky + set-gid: mode 3755); the lowest number leads and runs CMD; each other
# candidate waits for the deletion of the node just before its own — never the leader's, so a
# leader's death wakes one candidate, not the herd.
#
#   $ examples/leader-election.sh /mnt/quorumfs alpha sh -c 'echo serving; sleep 1000' &
#   alpha: candidate n-0000000000
#   alpha: leader
#   serving
#   $ examples/leader-election.sh /mnt/quorumfs beta sh -c 'echo serving; sleep 1000' &
#   beta: candidate n-0000000001
#   beta: waiting for n-0000000000
#   $ ls /mnt/quorumfs/election; cat /mnt/quorumfs/election/n-0000000000
#   n-0000000000  n-0000000001
#   alpha
#   $ kill %1                       # SIGTERM: alpha stops CMD and exits; so would a crash
#   beta: leader
#   serving
#
# The script exits with CMD's status once CMD ends (its node goes with it, and the next candidate
# takes over); SIGTERM/SIGINT stop CMD and the script, with status 0. A waiting candidate also
# re-lists every ELECTION_RECHECK_S seconds (default 5), should an event ever be missed.
# A leader keeps watching its own node while CMD runs: should the node go (the ensemble closed its
# session: this host was cut off past the session timeout, or the node was removed by hand) or
# this host stay without a quorum (`user.zk.state` on the root is `unsynced`) for
# ELECTION_UNSYNCED_S seconds (default 5), it stops CMD (SIGTERM, and waits for it) and exits 1,
# saying "leadership lost". What is left is a window, as with any ZooKeeper leader: the ensemble
# may elect a successor sessionTimeout (10 s by default, docs/operations.md) after it last heard
# from this host; this leader stops ELECTION_UNSYNCED_S (+1 s of polling) after its replica
# notices it lost the quorum, which is earlier only if the replica notices within the rest of
# the session timeout. A host that is frozen (stopped, swapping) notices nothing meanwhile, and
# a CMD that has background children may outlive SIGTERM: a resource that must never see two
# leaders should also check a fencing token (e.g. the node's user.zk.czxid) itself.
# CMD inherits the node's descriptor on purpose: the node lives as long as the script OR its
# CMD, so a candidate killed with -9 while its CMD runs on does not hand leadership to a second
# CMD (two leaders); the old CMD must end first. A CMD that leaves background processes behind
# should close that descriptor in them.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT NAME CMD [ARGS...]   run CMD while leader of MOUNT/election" >&2
  exit 2
}

(($# >= 3)) || usage
mount=$1
candidate=$2
shift 2
election_dir=$mount/election
# How often to re-list while waiting, in case an event was missed: the watch makes the wait
# prompt, this only bounds the cost of a surprise.
recheck_s=${ELECTION_RECHECK_S:-5}
# How long a leader goes on while this host has no quorum (user.zk.state `unsynced`) before it
# stops CMD: below the ensemble's sessionTimeout (10 s by default), after which it may elect a
# successor.
unsynced_s=${ELECTION_UNSYNCED_S:-5}
[[ $unsynced_s =~ ^[0-9]+$ ]] || { echo "${0##*/}: ELECTION_UNSYNCED_S must be a number of seconds" >&2; exit 2; }

say() { echo "$candidate: $*"; }

mkdir -m 3755 -- "$election_dir" 2>/dev/null
# mkdir(2) cannot set the set-gid bit: `mkdir -m` adds it with a chmod just after, and another
# candidate starting at the same moment may look in between. So give it a moment (<= 5 s).
# (Without the bit our node would be sequential but not ephemeral: a leader that never leaves.)
for ((tries = 0; ; tries++)); do
  [[ -d $election_dir && -k $election_dir && -g $election_dir ]] && break
  if ((tries == 50)); then
    echo "${0##*/}: $election_dir must be a directory with the sticky and set-gid bits (chmod 3755)" >&2
    exit 1
  fi
  sleep 0.1
done

# The watch comes first: it must be in place before we list, or a deletion between the listing
# and the watch would be missed. (It comes before our node, too, so it does not inherit it.)
# Every candidate's inotifywait sees every deletion in the directory, but only the successor of
# the deleted node acts on it: nobody else lists or touches the tree.
exec {events_fd}< <(exec inotifywait -m -e delete --format 'event %f' -- "$election_dir" 2>&1)
watcher_pid=$!
cmd_pid=
# stop: a requested stop (SIGTERM, SIGINT) — stop CMD, wait for it to end, exit 0. CMD gets
# SIGTERM either way: a command started with `&` by a script ignores SIGINT.
# shellcheck disable=SC2317  # (it is called from the traps)
stop() {
  if [[ -n $cmd_pid ]]; then
    kill -TERM "$cmd_pid" 2>/dev/null
    wait "$cmd_pid"
  fi
  exit 0
}
trap '[[ -n $watcher_pid ]] && kill "$watcher_pid" 2>/dev/null' EXIT
trap stop TERM INT
await_watch "$events_fd" "$election_dir"

# Our candidacy: the sticky bit appends the sequence number, the set-gid bit makes the node
# ephemeral — it lives until the last copy of node_fd is closed. The name we asked for is "n-";
# only the descriptor knows the real one.
# (noclobber: O_EXCL, so that nothing but a new node can ever come of this open.)
set -o noclobber
exec {node_fd}>"$election_dir/n-" || exit 1
set +o noclobber
node=$(getfattr --absolute-names --only-values -n user.zk.name "/proc/self/fd/$node_fd") || exit 1
node=${node##*/}
# Our name as the node's data, committed by the close of echo's copy of the descriptor.
echo "$candidate" >&"$node_fd" || exit 1
say "candidate $node"

# sequence_nodes: the candidates' nodes, one a line, in election order (the glob reads the
# directory like `ls`, and sorts bytewise under LC_ALL=C: 10-digit suffixes sort as numbers).
sequence_nodes() {
  local path
  for path in "$election_dir"/n-*; do
    [[ ${path##*/} =~ ^n-[0-9]{10}$ ]] && printf '%s\n' "${path##*/}"
  done
}

# wait_for_deletion NODE: returns once NODE is gone from the directory.
wait_for_deletion() {
  local predecessor=$1 tag name
  while :; do
    local read_status=0
    read -r -t "$recheck_s" -u "$events_fd" tag name || read_status=$?
    if ((read_status == 0)); then
      [[ $tag == event && $name == "$predecessor" ]] && return 0
    elif ((read_status <= 128)); then
      echo "${0##*/}: the watch on $election_dir ended (unmounted?)" >&2
      exit 1
    elif ! sequence_nodes | grep -qxF -- "$predecessor"; then
      return 0 # (timed out, and it is gone: an event we did not see)
    fi
  done
}

while :; do
  nodes=$(sequence_nodes)
  if ! grep -qxF -- "$node" <<<"$nodes"; then
    # Only a lost session removes a live candidate's node (docs/guarantees.md §4): we are out.
    echo "${0##*/}: our node $node is gone" >&2
    exit 1
  fi
  predecessor=$(grep -B1 -xF -- "$node" <<<"$nodes" | head -n 1)
  [[ $predecessor == "$node" ]] && break
  say "waiting for $predecessor"
  # It was there after the watch began, so its deletion will come down the watch.
  wait_for_deletion "$predecessor"
done

say leader
# In the background, so that `wait` lets the traps run when a signal comes; with stdin kept.
"$@" <&0 {events_fd}<&- &
cmd_pid=$!

# The leader keeps watching its own node: the monitor below (a subshell without node_fd, so that
# it never keeps the node alive) sends us SIGUSR1 when the node is deleted (its DELETE event, or
# a re-list that misses it) or when this host has been `unsynced` (user.zk.state on the root) for
# ELECTION_UNSYNCED_S seconds; we then stop CMD and exit 1.
# shellcheck disable=SC2317  # (called from the trap)
lost() {
  kill -TERM "$cmd_pid" 2>/dev/null
  wait "$cmd_pid"
  echo "${0##*/}: $candidate: leadership lost; CMD stopped" >&2
  exit 1
}
trap '[[ -n $watcher_pid ]] && kill "$watcher_pid" 2>/dev/null
  [[ -n ${monitor_pid:-} ]] && kill "$monitor_pid" 2>/dev/null' EXIT
trap lost USR1
script_pid=$$
(
  exec {node_fd}>&- </dev/null
  trap - TERM INT USR1 EXIT
  unsynced_since=
  next_check_s=$((SECONDS + 1))
  while :; do
    read_status=0
    read -r -t 1 -u "$events_fd" tag name || read_status=$?
    reason=
    if ((read_status == 0)); then
      [[ $tag == event && $name == "$node" ]] && reason="our node $node was deleted"
    elif ((read_status <= 128)); then
      reason="the watch on $election_dir ended (unmounted?)"
    fi
    # (Once a second at least, whatever the events: other candidates' comings and goings too.)
    if [[ -z $reason ]] && ((read_status > 128 || SECONDS >= next_check_s)); then
      next_check_s=$((SECONDS + 1))
      kill -0 "$script_pid" 2>/dev/null || exit 0 # (the script was killed: nobody to tell)
      if [[ ! -e $election_dir/$node ]]; then
        reason="our node $node is gone"
      elif [[ $(getfattr --absolute-names --only-values -n user.zk.state -- "$mount" 2>/dev/null) == unsynced ]]; then
        [[ -n $unsynced_since ]] || unsynced_since=$SECONDS
        ((SECONDS - unsynced_since >= unsynced_s)) &&
          reason="this host has had no quorum for ${unsynced_s}s"
      else
        unsynced_since=
      fi
    fi
    if [[ -n $reason ]]; then
      echo "${0##*/}: $candidate: $reason" >&2
      kill -USR1 "$script_pid"
      exit 0
    fi
  done
) &
monitor_pid=$!
wait "$cmd_pid"
status=$?
# (A signal's trap ends the script itself; here CMD ended on its own.)
kill "$monitor_pid" 2>/dev/null
exit "$status"
