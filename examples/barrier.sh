#!/usr/bin/env bash
# A barrier: each participant creates an ephemeral file in MOUNT/barrier (a set-gid directory)
# and waits until COUNT participants are present at once; then all of them proceed (here: exit 0).
#
#   $ examples/barrier.sh /mnt/quorumfs worker-1 3 && echo go &
#   worker-1: waiting (1 of 3)
#   $ examples/barrier.sh /mnt/quorumfs worker-2 3 && echo go &
#   worker-2: waiting (2 of 3)
#   $ examples/barrier.sh /mnt/quorumfs worker-3 3 && echo go
#   worker-3: released (3 of 3)
#   go
#   worker-1: released (3 of 3)
#   go
#   worker-2: released (3 of 3)
#   go
#
# A participant that waits longer than BARRIER_TIMEOUT_S (default 60) gives up with status 1 and
# its file goes; one that dies leaves at once the same way, and is no longer counted.
#
# With a CMD it is ZooKeeper's double barrier: enter (as above), run CMD, then leave — delete its
# file and wait until every participant has deleted its own — and exit with CMD's status. No one
# starts CMD before all COUNT have entered, and no one goes past the barrier before all have
# finished CMD:
#
#   $ examples/barrier.sh /mnt/quorumfs worker-1 2 sh -c 'sleep 1; echo work-1' &
#   worker-1: waiting (1 of 2)
#   $ examples/barrier.sh /mnt/quorumfs worker-2 2 sh -c 'echo work-2'
#   worker-2: released (2 of 2)
#   work-2
#   worker-2: leaving (2 present)
#   worker-1: released (2 of 2)
#   work-1
#   worker-1: leaving (1 present)
#   worker-1: left (all gone)
#   worker-2: left (all gone)
#
# CMD runs without the participant's descriptor (the file goes when the participant leaves, not
# when CMD's background children do).
#
# How, ZooKeeper's way (a listing after a watch, never the order of events): each participant
# watches MOUNT/barrier.ready first, then creates its file, then lists MOUNT/barrier. Whoever
# counts COUNT or more there writes a ready file, MOUNT/barrier.ready/r-CZXID (its own node's
# czxid), naming every participant it counted as `NAME CZXID`, in one create with its data, and
# proceeds; the others proceed when a ready file names them. The participant created last sees
# all the others' files (its listing comes after its own create, the others' creates before), so
# if COUNT are present at once someone writes the ready file, and nobody proceeds unless someone
# counted COUNT in one listing. Nodes named by a ready file already have their round and are
# not counted again: the next round's participants do not count the previous round's while
# those run CMD or leave. Leaving: once CMD is done a participant deletes its file, then lists
# until no file of its round (name and czxid, from its ready file) is left, re-listing after
# each DELETE in MOUNT/barrier (watched before the listing). Ready files whose participants are
# all gone are removed by the next participant that starts. Nothing depends on the order in
# which events arrive (docs/mount.md, "Watches": a local change may be announced before a
# foreign one applied earlier); a waiter also re-lists every BARRIER_RECHECK_S seconds (default
# 5), should an event ever be missed.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT NAME COUNT           wait until COUNT participants are at MOUNT/barrier" >&2
  echo "       $0 MOUNT NAME COUNT CMD [ARGS]  double barrier: enter, run CMD, leave together" >&2
  exit 2
}

(($# >= 3)) || usage
mount=$1
participant=$2
count=$3
shift 3
[[ $count =~ ^[1-9][0-9]*$ ]] || usage
[[ $participant =~ ^[A-Za-z0-9._-]+$ && $participant != . && $participant != .. ]] ||
  { echo "${0##*/}: bad participant name '$participant'" >&2; exit 2; }
barrier_dir=$mount/barrier
ready_dir=$mount/barrier.ready
timeout_s=${BARRIER_TIMEOUT_S:-60}
recheck_s=${BARRIER_RECHECK_S:-5}
[[ $recheck_s =~ ^[1-9][0-9]*$ ]] || { echo "${0##*/}: BARRIER_RECHECK_S must be a positive number of seconds" >&2; exit 2; }

say() { echo "$participant: $*"; }

mkdir -m 2755 -- "$barrier_dir" 2>/dev/null
# mkdir(2) cannot set the set-gid bit: `mkdir -m` adds it with a chmod just after, and another
# participant starting at the same moment may look in between. So give it a moment (<= 5 s).
for ((tries = 0; ; tries++)); do
  [[ -d $barrier_dir && -g $barrier_dir ]] && break
  if ((tries == 50)); then
    echo "${0##*/}: $barrier_dir must be a directory with the set-gid bit (chmod g+s)" >&2
    exit 1
  fi
  sleep 0.1
done
# (Ready files are persistent: the participant that wrote one may be gone before the others read
# it.)
mkdir -p -- "$ready_dir" || exit 1

# present_nodes: "NAME CZXID" of every participant file, one a line (one getfattr for all).
present_nodes() {
  local paths=("$barrier_dir"/*)
  [[ -e ${paths[0]} ]] || return 0
  getfattr --absolute-names -n user.zk.czxid -- "${paths[@]}" 2>/dev/null | awk '
    /^# file: / { name = $0; sub(/^.*\//, "", name); next }
    /^user\.zk\.czxid=/ { value = $0; sub(/^[^=]*="?/, "", value); sub(/"$/, "", value); print name, value }'
}
# ready_lines: every line of every ready file.
ready_lines() {
  local paths=("$ready_dir"/r-*)
  [[ -e ${paths[0]} ]] || return 0
  cat -- "${paths[@]}" 2>/dev/null
}

# Ready files of rounds that are over (none of their participants is here any more) go. The
# files are read before the listing: every node a file names was created before the file, so a
# node missing from the later listing is gone for good (a node read after the listing could be
# one created meanwhile).
remove_stale_ready_files() {
  local path line
  declare -A lines_of=() here=()
  for path in "$ready_dir"/r-*; do
    [[ -f $path ]] && lines_of[$path]=$(cat -- "$path" 2>/dev/null)
  done
  while IFS= read -r line; do here[$line]=1; done < <(present_nodes)
  for path in "${!lines_of[@]}"; do
    local live=0
    while IFS= read -r line; do
      [[ -n ${here[$line]:-} ]] && { live=1; break; }
    done <<<"${lines_of[$path]}"
    ((live)) || rm -f -- "$path"
  done
}

# Order matters: the watch first (ready files arriving; files here coming and going), then our
# own file, then every check lists. The watch starts before our file, so it does not inherit it.
exec {events_fd}< <(exec inotifywait -m -e create -e close_write -e moved_to -e delete \
  --format 'event %e %w%f' -- "$ready_dir" "$barrier_dir" 2>&1)
watcher_pid=$!
trap 'kill "$watcher_pid" 2>/dev/null' EXIT
trap 'exit 1' TERM INT
await_watch "$events_fd" "$barrier_dir"
remove_stale_ready_files

# noclobber: O_EXCL, so a name already present fails instead of sharing another's file.
set -o noclobber
exec {presence_fd}>"$barrier_dir/$participant" || exit 1
set +o noclobber
# Who we are, for `cat`; committed by the close of echo's copy of the descriptor. The node itself
# lives on with presence_fd, until we exit.
echo "pid=$$ host=$(hostname)" >&"$presence_fd" || exit 1
czxid=$(getfattr --absolute-names --only-values -n user.zk.czxid "/proc/self/fd/$presence_fd") ||
  exit 1
me="$participant $czxid"

# check_released: 0 once a ready file names us (round: its lines), or once we count COUNT
# participants not yet in a round (then we write the ready file); else 1, with `counted` set.
round=()
counted=0
check_released() {
  local path line
  for path in "$ready_dir"/r-*; do
    [[ -f $path ]] || continue
    if grep -qxF -- "$me" "$path" 2>/dev/null; then
      mapfile -t round <"$path"
      return 0
    fi
  done
  declare -A taken=()
  while IFS= read -r line; do taken[$line]=1; done < <(ready_lines)
  local group=()
  while IFS= read -r line; do
    [[ -z ${taken[$line]:-} ]] && group+=("$line")
  done < <(present_nodes)
  counted=${#group[@]}
  ((counted >= count)) || return 1
  # The ready file: one create with its data (tee: one open, write, close).
  printf '%s\n' "${group[@]}" | tee -- "$ready_dir/r-$czxid" >/dev/null || {
    echo "${0##*/}: cannot write $ready_dir/r-$czxid" >&2
    exit 1
  }
  round=("${group[@]}")
  return 0
}

# next_event SECONDS: waits for any event, at most SECONDS; ends the script if the watch ended.
next_event() {
  local read_status=0 line
  read -r -t "$1" -u "$events_fd" line || read_status=$?
  if ((read_status > 0 && read_status <= 128)); then
    echo "${0##*/}: the watch on $barrier_dir ended (unmounted?)" >&2
    exit 1
  fi
  return 0
}

deadline=$((SECONDS + timeout_s))
reported=0
until check_released; do
  if ((counted != reported)); then
    reported=$counted
    say "waiting ($reported of $count)"
  fi
  remaining_s=$((deadline - SECONDS))
  if ((remaining_s <= 0)); then
    say "timed out after ${timeout_s}s ($counted of $count)"
    exit 1
  fi
  ((remaining_s < recheck_s)) || remaining_s=$recheck_s
  next_event "$remaining_s"
done
say "released (${#round[@]} of $count)"
(($# > 0)) || exit 0

# The double barrier's second half. CMD without our descriptors, so that closing ours is leaving.
"$@" {presence_fd}>&- {events_fd}<&-
cmd_status=$?
# round_present: how many of our round's files are still here (ours included until it goes).
round_present() {
  local line n=0
  declare -A here=()
  while IFS= read -r line; do here[$line]=1; done < <(present_nodes)
  for line in "${round[@]}"; do [[ -n ${here[$line]:-} ]] && n=$((n + 1)); done
  echo "$n"
}
say "leaving ($(round_present) present)"
exec {presence_fd}>&-
deadline=$((SECONDS + timeout_s))
while :; do
  present=$(round_present)
  ((present > 0)) || break
  remaining_s=$((deadline - SECONDS))
  if ((remaining_s <= 0)); then
    say "timed out leaving after ${timeout_s}s ($present still present)"
    exit 1
  fi
  ((remaining_s < recheck_s)) || remaining_s=$recheck_s
  next_event "$remaining_s"
done
say "left (all gone)"
exit "$cmd_status"
