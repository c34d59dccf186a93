#!/usr/bin/env bash
# A shared configuration file that every watcher re-reads the moment it changes: ZooKeeper's
# getData-with-watch, where the watch is an inotify IN_CLOSE_WRITE on the mount.
#
#   $ examples/config-watch.sh /mnt/quorumfs &                # watch (creates config/app.conf)
#   --- /mnt/quorumfs/config/app.conf
#   $ examples/config-watch.sh /mnt/quorumfs set db=primary
#   --- /mnt/quorumfs/config/app.conf
#   db=primary
#   $ examples/config-watch.sh /mnt/quorumfs set mode=fast
#   --- /mnt/quorumfs/config/app.conf
#   db=primary
#   mode=fast
#   $ examples/config-watch.sh /mnt/quorumfs set db=replica   # replaces the line of that key
#   --- /mnt/quorumfs/config/app.conf
#   db=replica
#   mode=fast
#   $ kill %1
#
# Every change is one atomic setData: `set` writes the whole new file through a single open,
# write and close (quorumfs commits a file at close), so a reader sees the old content or the
# new, never half of it. Watchers on other hosts of the ensemble see the same events.
# The watcher reads the file after each event, so two quick changes may both be printed with the
# newer content: like a ZooKeeper watch, the event says "changed", the read says to what.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT                watch MOUNT/config/app.conf; print it at start and at every change" >&2
  echo "       $0 MOUNT set KEY=VALUE  set one key (one atomic write)" >&2
  exit 2
}

(($# >= 1)) || usage
mount=$1
config_dir=$mount/config
config_name=app.conf
config_file=$config_dir/$config_name

ensure_config_file() {
  mkdir -p -- "$config_dir" || exit 1
  # `>>` creates it empty when missing and leaves an existing content alone.
  [[ -e $config_file ]] || : >>"$config_file" || exit 1
}

print_config() {
  echo "--- $config_file"
  cat -- "$config_file"
}

watch_config() {
  ensure_config_file
  # The watch is on the directory, not on the file, so that it outlives the file being replaced
  # (`mv new app.conf` and `sed -i` raise IN_MOVED_TO). inotifywait's stderr comes down the same
  # pipe: the first read happens only after "Watches established.", so no change can fall between
  # that read and the watch (ZooKeeper sets a watch with the read for the same reason).
  local events_fd watcher_pid line
  exec {events_fd}< <(exec inotifywait -m -e close_write -e moved_to --format 'event %f' \
    -- "$config_dir" 2>&1)
  watcher_pid=$!
  trap 'kill "$watcher_pid" 2>/dev/null' EXIT
  trap 'exit 0' TERM INT
  await_watch "$events_fd" "$config_dir"
  print_config
  while read -r -u "$events_fd" line; do
    [[ $line == "event $config_name" ]] && print_config
  done
  echo "${0##*/}: the watch on $config_dir ended (unmounted?)" >&2
  exit 1
}

set_key() {
  local assignment=$1
  local key=${assignment%%=*}
  [[ $assignment == *=* && -n $key ]] || usage
  ensure_config_file
  # A read-modify-write: flock keeps two `set`s from losing each other's key (docs/guarantees.md §6:
  # a flock on the mount is a lock for the whole ensemble). The lock descriptor is read-only, so its
  # close raises no IN_CLOSE_WRITE of its own.
  local lock_fd
  exec {lock_fd}<"$config_file" || exit 1
  flock -w 30 "$lock_fd" || { echo "${0##*/}: could not lock $config_file within 30 s" >&2; exit 1; }
  local new_content
  new_content=$(awk -v key="$key" -v line="$assignment" '
    index($0, key "=") == 1 { if (!done) print line; done = 1; next }
    { print }
    END { if (!done) print line }' "$config_file") || exit 1
  # tee opens, writes and closes the file once: ONE setData with the whole content. A shell
  # redirection `> file` dup2()s the descriptor and closes the original, and quorumfs may commit
  # at every close (docs/guarantees.md §3), so it could publish the truncation before the content.
  printf '%s\n' "$new_content" | tee -- "$config_file" >/dev/null || exit 1
  exec {lock_fd}<&-
}

case ${2:-} in
  "") (($# == 1)) || usage; watch_config ;;
  set) (($# == 3)) || usage; set_key "$3" ;;
  *) usage ;;
esac
