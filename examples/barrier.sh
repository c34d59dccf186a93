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
# when CMD's background children do). The next round's participants wait until all have left:
# one that enters during the leave phase is counted as present, and holds the others there.
#
# Why each participant counts from the event stream rather than by `ls` after an event: the first
# to be released exits, and its file goes with it; a slower participant listing the directory then
# would count one too few and wait forever. The events, applied in order, still show the moment
# when COUNT were present. (Barrier names are not sequential: a CREATE event carries the real name.)
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
barrier_dir=$mount/barrier
timeout_s=${BARRIER_TIMEOUT_S:-60}

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

# Order matters. The watch first; then the listing, which seeds the set of names present; then
# our own file. From then on the events are applied in order, and the count checked after each:
# when our own CREATE is applied, the set is the group as it was at our arrival — including
# whoever left between the listing and our create, since their DELETE comes before it. (Who came
# and went between the watch and the listing is not in the listing but has both events; a
# participant that arrives and dies within those few milliseconds may be counted for a moment.)
exec {events_fd}< <(exec inotifywait -m -e create -e delete --format 'event %e %f' \
  -- "$barrier_dir" 2>&1)
watcher_pid=$!
trap 'kill "$watcher_pid" 2>/dev/null' EXIT
trap 'exit 1' TERM INT
await_watch "$events_fd" "$barrier_dir"

declare -A present=()
for path in "$barrier_dir"/*; do
  [[ -f $path ]] && present[${path##*/}]=1
done

# noclobber: O_EXCL, so a name already present fails instead of sharing another's file.
set -o noclobber
exec {presence_fd}>"$barrier_dir/$participant" || exit 1
set +o noclobber
# Who we are, for `cat`; committed by the close of echo's copy of the descriptor. The node itself
# lives on with presence_fd, until we exit.
echo "pid=$$ host=$(hostname)" >&"$presence_fd" || exit 1

deadline=$((SECONDS + timeout_s))
arrived=0 # our own CREATE applied
reported=0
while ((!arrived || ${#present[@]} < count)); do
  if ((arrived && ${#present[@]} != reported)); then
    reported=${#present[@]}
    say "waiting ($reported of $count)"
  fi
  remaining_s=$((deadline - SECONDS))
  if ((remaining_s <= 0)); then
    say "timed out after ${timeout_s}s (${#present[@]} of $count)"
    exit 1
  fi
  read_status=0
  read -r -t "$remaining_s" -u "$events_fd" tag mask name || read_status=$?
  if ((read_status > 128)); then
    continue # timed out: the deadline check above says so
  elif ((read_status != 0)); then
    echo "${0##*/}: the watch on $barrier_dir ended (unmounted?)" >&2
    exit 1
  fi
  [[ $tag == event ]] || continue
  case $mask in
    CREATE)
      present[$name]=1
      [[ $name == "$participant" ]] && arrived=1
      ;;
    DELETE) unset "present[$name]" ;;
  esac
done
say "released (${#present[@]} of $count)"
(($# > 0)) || exit 0

# The double barrier's second half. CMD without our descriptor, so that closing it is leaving.
"$@" {presence_fd}>&-
cmd_status=$?
say "leaving (${#present[@]} present)"
exec {presence_fd}>&-
# Our own DELETE comes down the stream like the others': the set empties when all have left.
deadline=$((SECONDS + timeout_s))
while ((${#present[@]} > 0)); do
  remaining_s=$((deadline - SECONDS))
  if ((remaining_s <= 0)); then
    say "timed out leaving after ${timeout_s}s (${#present[@]} still present)"
    exit 1
  fi
  read_status=0
  read -r -t "$remaining_s" -u "$events_fd" tag mask name || read_status=$?
  if ((read_status > 128)); then
    continue
  elif ((read_status != 0)); then
    echo "${0##*/}: the watch on $barrier_dir ended (unmounted?)" >&2
    exit 1
  fi
  [[ $tag == event ]] || continue
  case $mask in
    CREATE) present[$name]=1 ;;
    DELETE) unset "present[$name]" ;;
  esac
done
say "left (all gone)"
exit "$cmd_status"
