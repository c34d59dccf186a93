#!/usr/bin/env bash
# A distributed FIFO queue, ZooKeeper's recipe: producers create sequential files in MOUNT/queue
# (a sticky directory, mode 1755); a consumer claims the lowest item by renaming it — a rename is
# one atomic transaction, so of several consumers racing for an item exactly one wins and the
# others get ENOENT and try the next — then prints it and deletes it.
#
#   $ examples/queue.sh /mnt/quorumfs put 'resize img-1.png'
#   $ examples/queue.sh /mnt/quorumfs put 'resize img-2.png'
#   $ ls /mnt/quorumfs/queue
#   item-0000000000  item-0000000001
#   $ examples/queue.sh /mnt/quorumfs take
#   resize img-1.png
#   $ examples/queue.sh /mnt/quorumfs take
#   resize img-2.png
#   $ examples/queue.sh /mnt/quorumfs take; echo "status $?"
#   queue.sh: /mnt/quorumfs/queue is empty
#   status 1
#
# An item claimed by a consumer that died before deleting it stays as `claimed-item-N-HOST-PID`,
# for a person (or a reaper) to put back with `mv`. The sticky bit also keeps its meaning on any
# Linux filesystem: only an item's owner (or root) may rename or delete it, so consumers run as
# the producers' user, or as root.
set -u -o pipefail
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT put DATA   append an item (DATA and a newline)" >&2
  echo "       $0 MOUNT take       print and remove the oldest item; status 1 when empty" >&2
  exit 2
}

(($# >= 2)) || usage
mount=$1
queue_dir=$mount/queue

ensure_queue_dir() {
  # The sticky bit gives every file created inside a sequential suffix (docs/guarantees.md §4).
  mkdir -m 1755 -- "$queue_dir" 2>/dev/null
  # (`mkdir -m` may set the bit with a chmod just after the mkdir, and another producer starting
  # at the same moment may look in between: give it a moment, <= 5 s.)
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -d $queue_dir && -k $queue_dir ]] && return 0
    sleep 0.1
  done
  echo "${0##*/}: $queue_dir must be a directory with the sticky bit (chmod +t)" >&2
  exit 1
}

put_item() {
  ensure_queue_dir
  # One open, write and close: the node is created at the open (empty, version 0) and its data
  # committed at the close (version 1). `take` leaves version-0 items alone, as unfinished.
  printf '%s\n' "$1" | tee -- "$queue_dir/item-" >/dev/null
}

# queued_items: the items, one a line, oldest first (the glob sorts bytewise under LC_ALL=C,
# and the 10-digit suffixes sort as numbers).
queued_items() {
  local path
  for path in "$queue_dir"/item-*; do
    [[ ${path##*/} =~ ^item-[0-9]{10}$ ]] && printf '%s\n' "${path##*/}"
  done
}

take_item() {
  [[ -d $queue_dir ]] || { echo "${0##*/}: $queue_dir is empty" >&2; exit 1; }
  local item claimed version
  while IFS= read -r item; do
    version=$(getfattr --absolute-names --only-values -n user.zk.version -- "$queue_dir/$item" \
      2>/dev/null) || continue  # taken meanwhile
    # Created but not yet written by its producer: not ready.
    [[ $version == 0 ]] && continue
    claimed=claimed-$item-$(hostname)-$$
    # The claim. mv renames within the directory (a rename is no create: no suffix is added);
    # losing the race is ENOENT, and we go on to the next item.
    mv -T -- "$queue_dir/$item" "$queue_dir/$claimed" 2>/dev/null || continue
    cat -- "$queue_dir/$claimed" || exit 1
    rm -f -- "$queue_dir/$claimed"
    exit 0
  done < <(queued_items)
  echo "${0##*/}: $queue_dir is empty" >&2
  exit 1
}

case $2 in
  put) (($# == 3)) || usage; put_item "$3" ;;
  take) (($# == 2)) || usage; take_item ;;
  *) usage ;;
esac
