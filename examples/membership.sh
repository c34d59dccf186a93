#!/usr/bin/env bash
# Group membership: each member holds an ephemeral file in MOUNT/members (a set-gid directory) for
# as long as it runs; the file disappears the moment the member stops or dies, on every host.
#
#   $ examples/membership.sh /mnt/quorumfs watch &
#   $ examples/membership.sh /mnt/quorumfs join web-1 &
#   joined as /mnt/quorumfs/members/web-1
#   join web-1
#   $ examples/membership.sh /mnt/quorumfs join web-2 &
#   joined as /mnt/quorumfs/members/web-2
#   join web-2
#   $ examples/membership.sh /mnt/quorumfs list
#   web-1
#   web-2
#   $ kill %2                       # SIGTERM, Ctrl-C, kill -9 or a crash: web-1 leaves
#   leave web-1
#   $ cat /mnt/quorumfs/members/web-2
#   pid=4242 host=myhost
#
# `watch` first prints the members present when it starts ("member NAME"), then every change.
# A member's file holds its pid and host; ZooKeeper's ephemeralOwner is `getfattr -n
# user.zk.ephemeralOwner FILE`.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT join NAME   be a member until SIGTERM/SIGINT" >&2
  echo "       $0 MOUNT list        print the members, one a line" >&2
  echo "       $0 MOUNT watch       print 'join NAME' / 'leave NAME' as members come and go" >&2
  exit 2
}

(($# >= 2)) || usage
mount=$1
members_dir=$mount/members

ensure_members_dir() {
  # The set-gid bit makes every file created inside ephemeral (docs/guarantees.md §4).
  mkdir -m 2755 -- "$members_dir" 2>/dev/null
  # mkdir(2) cannot set the set-gid bit: `mkdir -m` adds it with a chmod just after, and another
  # participant starting at the same moment may look in between. So give it a moment (<= 5 s).
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -d $members_dir && -g $members_dir ]] && return 0
    sleep 0.1
  done
  echo "${0##*/}: $members_dir must be a directory with the set-gid bit (chmod g+s)" >&2
  exit 1
}

join_group() {
  local name=$1 member_fd never_fd
  ensure_members_dir
  # Somewhere to block without a child process: a pipe we hold both ends of never has data.
  # (A child — `sleep` — would inherit the member's descriptor unless told to close it, and an
  # ephemeral lives until EVERY copy of its creating descriptor is closed: an orphaned sleep would
  # keep this member alive after we are gone.)
  exec {never_fd}<> <(:)
  # noclobber: the open uses O_EXCL, so a name already taken fails (ZooKeeper's NodeExists)
  # rather than opening the other member's node and sharing its life.
  set -o noclobber
  exec {member_fd}>"$members_dir/$name" || exit 1
  set +o noclobber
  # The redirection runs echo on a copy of the descriptor and closes the copy afterwards: that
  # close commits the data, while the node lives on with member_fd.
  echo "pid=$$ host=$(hostname)" >&"$member_fd" || exit 1
  echo "joined as $members_dir/$name"
  # Leaving is exiting: the exit closes member_fd and quorumfs deletes the node at once.
  trap 'exit 0' TERM INT
  read -r -u "$never_fd"
}

list_members() {
  [[ -d $members_dir ]] || exit 0
  ls -1 -- "$members_dir"
}

watch_members() {
  ensure_members_dir
  local events_fd watcher_pid line name
  exec {events_fd}< <(exec inotifywait -m -e create -e delete -e moved_to -e moved_from \
    --format 'event %e %f' -- "$members_dir" 2>&1)
  watcher_pid=$!
  trap 'kill "$watcher_pid" 2>/dev/null' EXIT
  trap 'exit 0' TERM INT
  await_watch "$events_fd" "$members_dir"
  # Listed after the watch is in place, so nobody joins unseen in between (one who joins right
  # then may be shown twice: as a member and as a join).
  local member
  while IFS= read -r member; do
    echo "member $member"
  done < <(ls -1 -- "$members_dir")
  local tag mask
  while read -r -u "$events_fd" tag mask name; do
    [[ $tag == event ]] || continue
    # (membership names are not sequential, so the event carries the member's real name)
    case $mask in
      *ISDIR*) ;;
      CREATE | MOVED_TO) echo "join $name" ;;
      DELETE | MOVED_FROM) echo "leave $name" ;;
    esac
  done
  echo "${0##*/}: the watch on $members_dir ended (unmounted?)" >&2
  exit 1
}

case $2 in
  join) (($# == 3)) || usage; join_group "$3" ;;
  list) (($# == 2)) || usage; list_members ;;
  watch) (($# == 2)) || usage; watch_members ;;
  *) usage ;;
esac
