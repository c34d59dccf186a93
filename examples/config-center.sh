#!/usr/bin/env bash
# A configuration center with push, as Nacos config: a publisher replaces MOUNT/app/config.json in
# one atomic write; every subscriber, on any host of the ensemble, reloads it on the inotify event
# (and re-checks every CONFIG_RECHECK_S seconds, should events be dropped), prints each version
# once, and never sees an empty or half-written file. The last CONFIG_HISTORY_N versions (default
# 10) are kept in MOUNT/app/history/, oldest first.
#
#   $ examples/config-center.sh /mnt/quorumfs subscribe &            # on every host
#   $ echo '{"db":"primary"}' | examples/config-center.sh /mnt/quorumfs publish
#   version 0
#   --- version 0 mzxid 0x100000012
#   {"db":"primary"}
#   $ echo '{"db":"replica"}' | examples/config-center.sh /mnt/quorumfs publish
#   version 1
#   --- version 1 mzxid 0x100000015
#   {"db":"replica"}
#   $ examples/config-center.sh /mnt/quorumfs history
#   v-0000000000 {"db":"primary"}
#   v-0000000001 {"db":"replica"}
#   $ cat /mnt/quorumfs/app/config.json                               # what an application reads
#   {"db":"replica"}
#
# How each promise is kept:
# - Atomic: `publish` writes the file with one open, write and close (tee): ONE setData, so every
#   reader on every host reads the old content or the new one (docs/mount.md, "What other readers
#   see while a file is overwritten"). Empty content is refused, so no version is ever empty.
# - Push: a subscriber blocks in `read` on an `inotifywait -m` of MOUNT/app; another host's write
#   raises IN_CLOSE_WRITE here, a `mv` over the file IN_MOVED_TO (docs/mount.md, "Watches").
#   Should the kernel's event queue overflow (a burst past fs.inotify.max_queued_events while the
#   subscriber lags), events are dropped, the last version's among them. An event without a name
#   (IN_Q_OVERFLOW, as some inotifywait versions print it) makes the subscriber read again; and
#   as inotifywait 3.22 reads that event and prints nothing, the subscriber also compares the
#   file's mzxid (one getfattr, from this host's tree) with the last printed every
#   CONFIG_RECHECK_S seconds (default 5) without an event: a dropped version shows up within that.
# - Once: versions are told apart by `mzxid` (the zxid of the node's last change, which only grows,
#   even across a delete and re-create; `version` is shown too). After each event the subscriber
#   reads mzxid, the content, and mzxid again, from the daemon (O_DIRECT reads bypass the kernel's
#   page cache, which may lag the tree for a moment); the content belongs to that mzxid when both
#   agree, and it is printed only if that mzxid is newer than the last printed. Two changes that
#   come close together may be read as one (the newer): like a ZooKeeper watch, the event says
#   "changed", the read says to what.
# - History: publishers take an ensemble-wide flock (app/.publish.lock), so the history's order is
#   the file's; after writing the file, `publish` adds the content as a sequential node
#   app/history/v-N and removes all but the last CONFIG_HISTORY_N. A publisher that dies between
#   the two leaves that version out of the history.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT publish     publish stdin as the new MOUNT/app/config.json; prints its version" >&2
  echo "       $0 MOUNT subscribe   print the config at start and after every change, each version once" >&2
  echo "       $0 MOUNT history     the kept versions, oldest first: NODE CONTENT" >&2
  exit 2
}

(($# == 2)) || usage
mount=$1
app_dir=$mount/app
config_name=config.json
config_file=$app_dir/$config_name
history_dir=$app_dir/history
history_n=${CONFIG_HISTORY_N:-10}
recheck_s=${CONFIG_RECHECK_S:-5}
[[ $history_n =~ ^[1-9][0-9]*$ ]] || { echo "${0##*/}: CONFIG_HISTORY_N must be a positive number" >&2; exit 2; }
[[ $recheck_s =~ ^[1-9][0-9]*$ ]] || { echo "${0##*/}: CONFIG_RECHECK_S must be a positive number of seconds" >&2; exit 2; }

ensure_dirs() {
  mkdir -p -- "$app_dir" || exit 1
  # The sticky bit makes every node created in history/ sequential (docs/guarantees.md §4).
  mkdir -m 1755 -- "$history_dir" 2>/dev/null
  # (`mkdir -m` sets the bit with a chmod just after the mkdir: give a racing publisher <= 5 s.)
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -d $history_dir && -k $history_dir ]] && return 0
    sleep 0.1
  done
  echo "${0##*/}: $history_dir must be a directory with the sticky bit (chmod +t)" >&2
  exit 1
}

# stat_field NAME STAT: one `name=value` of a user.zk.stat line.
stat_field() {
  local field
  for field in $2; do
    [[ $field == "$1="* ]] && { printf '%s' "${field#*=}"; return 0; }
  done
  return 1
}

node_stat() { getfattr --absolute-names --only-values -n user.zk.stat -- "$1" 2>/dev/null; }

publish() {
  ensure_dirs
  local content
  # (read whole, with its trailing newlines: $(cat) would drop them)
  content=$(cat; printf x) || exit 1
  content=${content%x}
  [[ -n $content ]] || { echo "${0##*/}: refusing to publish an empty config" >&2; exit 1; }
  local lock_fd
  # A read-only descriptor of the lock file: its close raises no IN_CLOSE_WRITE of its own.
  [[ -e $app_dir/.publish.lock ]] || : >>"$app_dir/.publish.lock" || exit 1
  exec {lock_fd}<"$app_dir/.publish.lock" || exit 1
  flock -w 30 "$lock_fd" || { echo "${0##*/}: could not lock $app_dir/.publish.lock within 30 s" >&2; exit 1; }
  # tee opens, writes and closes once: ONE setData (or one create with its data). A shell's
  # `> file` would do as well (docs/mount.md, "One commit per redirection"); tee reports errors.
  printf '%s' "$content" | tee -- "$config_file" >/dev/null || exit 1
  stat_field version "$(node_stat "$config_file")" && echo
  # The history entry: one sequential create with its data.
  printf '%s' "$content" | tee -- "$history_dir/v-" >/dev/null || exit 1
  local kept=() path
  for path in "$history_dir"/v-*; do
    [[ ${path##*/} =~ ^v-[0-9]{10}$ ]] && kept+=("$path")
  done
  local excess=$((${#kept[@]} - history_n)) index
  for ((index = 0; index < excess; index++)); do
    rm -f -- "${kept[$index]}"
  done
  exec {lock_fd}<&-
}

show_history() {
  local path
  for path in "$history_dir"/v-*; do
    [[ ${path##*/} =~ ^v-[0-9]{10}$ ]] || continue
    printf '%s %s\n' "${path##*/}" "$(tr '\n' ' ' <"$path" | sed 's/ $//')"
  done
}

last_mzxid=-1

# reload: print the config if it is a version not printed yet. Returns 0 also when there is
# nothing new (or no file yet).
reload() {
  local attempt before after content
  for ((attempt = 0; attempt < 20; attempt++)); do
    before=$(node_stat "$config_file") || return 0 # not published yet, or deleted
    # O_DIRECT: from the daemon's tree, as the xattrs are (not from a page cache that may lag).
    content=$(dd if="$config_file" iflag=direct bs=1M status=none; printf x) || return 0
    content=${content%x}
    after=$(node_stat "$config_file") || return 0
    local mzxid_before mzxid_after
    mzxid_before=$(stat_field mzxid "$before")
    mzxid_after=$(stat_field mzxid "$after")
    if [[ $mzxid_before == "$mzxid_after" ]]; then
      (( mzxid_after > last_mzxid )) || return 0 # seen (bash reads 0x... as hex)
      [[ -n $content ]] || return 0               # never published empty: only a hand-made file
      last_mzxid=$((mzxid_after))
      echo "--- version $(stat_field version "$after") mzxid $mzxid_after"
      printf '%s' "$content"
      [[ $content == *$'\n' ]] || echo
      return 0
    fi
    # It changed while we read: read again (its own event follows, and finds it printed).
  done
  echo "${0##*/}: $config_file changes too fast to read one version; waiting for the next event" >&2
}

# reload_if_newer: reload when config.json's mzxid is newer than the last printed (one getfattr).
reload_if_newer() {
  local mzxid
  mzxid=$(stat_field mzxid "$(node_stat "$config_file")") || return 0
  ((mzxid > last_mzxid)) && reload
  return 0
}

subscribe() {
  ensure_dirs
  local events_fd watcher_pid tag mask name read_status next_check_s
  # The watch is on the directory, so it outlives a `mv new config.json` (IN_MOVED_TO). It is
  # established before the first read, so no change falls between the two.
  exec {events_fd}< <(exec inotifywait -m -e close_write -e moved_to --format 'event %e %f' \
    -- "$app_dir" 2>&1)
  watcher_pid=$!
  trap 'kill "$watcher_pid" 2>/dev/null' EXIT
  trap 'exit 0' TERM INT
  await_watch "$events_fd" "$app_dir"
  reload
  next_check_s=$((SECONDS + recheck_s))
  while :; do
    if ((SECONDS >= next_check_s)); then
      reload_if_newer
      next_check_s=$((SECONDS + recheck_s))
    fi
    read_status=0
    name=
    read -r -t "$((next_check_s - SECONDS))" -u "$events_fd" tag mask name || read_status=$?
    ((read_status > 128)) && continue # the re-check is due
    if ((read_status != 0)); then
      echo "${0##*/}: the watch on $app_dir ended (unmounted?)" >&2
      exit 1
    fi
    [[ $tag == event ]] || continue
    # Our file, or an event with no name: the kernel's queue overflowed (IN_Q_OVERFLOW, events
    # were dropped) or the directory itself changed. Either way, read again.
    if [[ $name == "$config_name" || -z $name || $mask == *Q_OVERFLOW* ]]; then
      reload
      next_check_s=$((SECONDS + recheck_s))
    fi
  done
}

case $2 in
  publish) publish ;;
  subscribe) subscribe ;;
  history) show_history ;;
  *) usage ;;
esac
