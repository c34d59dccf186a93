#!/usr/bin/env bash
# A distributed FIFO queue, ZooKeeper's recipe: producers create sequential files in MOUNT/queue
# (a sticky directory, mode 1755); a consumer claims the lowest item by renaming it — a rename is
# one atomic transaction, so of several consumers racing for an item exactly one wins and the
# others get ENOENT and try the next.
#
#   $ examples/queue.sh /mnt/quorumfs put 'resize img-1.png'
#   $ examples/queue.sh /mnt/quorumfs put 'resize img-2.png'
#   $ ls /mnt/quorumfs/queue
#   item-0000000000  item-0000000001
#   $ examples/queue.sh /mnt/quorumfs take                      # one item, by hand
#   resize img-1.png
#   $ examples/queue.sh /mnt/quorumfs consume worker-1 sh -c 'tr a-z A-Z' &   # on every host
#   worker-1: done item-0000000001
#   $ cat /mnt/quorumfs/queue.d/done/item-0000000001            # CMD's output: the result
#   RESIZE IMG-2.PNG
#   $ examples/queue.sh /mnt/quorumfs take; echo "status $?"
#   queue.sh: /mnt/quorumfs/queue is empty
#   status 1
#
# `take` claims, prints and deletes: an item whose consumer dies in between is lost, or stays as
# `claimed-item-N-HOST-PID` for a person to put back with `mv`.
#
# `consume NAME CMD...` processes every item exactly once, whoever dies: it runs CMD with the
# item's data on stdin and commits CMD's output as the item's result, queue.d/done/item-N, once.
#   1. It joins as the ephemeral file queue.d/consumers/NAME (a set-gid directory; O_EXCL: one
#      live consumer per NAME). The node lives while the consumer, or the CMD it runs, lives.
#   2. Claim: `mv queue/item-N queue.d/claimed/NAME/item-N`, one rename txn: one winner.
#   3. Process: CMD's output goes to queue.d/claimed/NAME/item-N.result (one create with its
#      data at close).
#   4. Commit: `mv -n` of that file to queue.d/done/item-N, a rename with RENAME_NOREPLACE: ONE
#      txn that creates the result whole, or fails with EEXIST if a result is already there.
#      Then the claim is deleted.
#   5. Requeue: whenever a consumer's node goes (IN_DELETE on consumers/), and at start, every
#      consumer moves the items of claimed/OWNER/ whose OWNER has no node back to queue/, under
#      their own names (the sequential counter never gives a name twice, so the order is kept);
#      racing consumers requeue each item once (a rename has one winner). A consumer re-started
#      under the same NAME takes over its own claims.
# So CMD may run twice for one item (its consumer died after running it, before or after the
# commit), but a result is committed once: a re-run finds done/item-N there and drops its own.
# Nothing here depends on who wins a race: an item is counted done only when done/item-N exists
# (never because a result file went away: a requeue removes the result files of the claims it
# moves, and a consumer re-started under the same NAME may meanwhile have claimed one of those
# items again and written its result there; it then finds no done/item-N and retries).
# Results are the consumers' product, and done/item-N is also what makes a re-run of item-N
# commit nothing: while item-N may still run (queued in queue/, claimed in any claimed/*/, or
# being moved between the two by a requeue) removing done/item-N lets a second result in. So
# read results freely, but remove done/item-N only while no consumer runs (queue.d/consumers/
# empty) and item-N is in neither queue/ nor any claimed/*/.
# A CMD that fails (non-zero status) moves its item to queue.d/failed/. The sticky bit keeps its
# meaning on any Linux filesystem: only an item's owner (or root) may rename or delete it, so
# consumers run as the producers' user, or as root. A waiting consumer re-lists every
# QUEUE_RECHECK_S seconds (default 5), should an event ever be missed.
set -u -o pipefail
# shellcheck source=lib/watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/watch.sh"
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT put DATA              append an item (DATA and a newline)" >&2
  echo "       $0 MOUNT take                  print and remove the oldest item; status 1 when empty" >&2
  echo "       $0 MOUNT consume NAME CMD...   process items exactly once until SIGTERM/SIGINT" >&2
  exit 2
}

(($# >= 2)) || usage
mount=$1
queue_dir=$mount/queue
state_dir=$mount/queue.d
consumers_dir=$state_dir/consumers
claimed_dir=$state_dir/claimed
done_dir=$state_dir/done
failed_dir=$state_dir/failed
recheck_s=${QUEUE_RECHECK_S:-5}

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
  # One open, write and close: the node is created at the open (empty) and its data committed
  # at the close. Consumers leave empty items alone, as unfinished (DATA has its newline at least).
  printf '%s\n' "$1" | tee -- "$queue_dir/item-" >/dev/null
}

# items_in DIR: the items there, one a line, oldest first (the glob sorts bytewise under
# LC_ALL=C, and the 10-digit suffixes sort as numbers).
items_in() {
  local path
  for path in "$1"/item-*; do
    [[ ${path##*/} =~ ^item-[0-9]{10}$ ]] && printf '%s\n' "${path##*/}"
  done
}
queued_items() { items_in "$queue_dir"; }

# ready ITEM: its producer has committed its data. (Not `version`: a requeued item is a rename's
# new node, at version 0 with its data.)
ready() {
  local length
  length=$(getfattr --absolute-names --only-values -n user.zk.dataLength -- "$queue_dir/$1" \
    2>/dev/null) || return 1 # taken meanwhile
  [[ $length != 0 ]]
}

take_item() {
  [[ -d $queue_dir ]] || { echo "${0##*/}: $queue_dir is empty" >&2; exit 1; }
  local item claimed
  while IFS= read -r item; do
    ready "$item" || continue
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

# ensure_set_gid_dir DIR: DIR exists with the set-gid bit (files created inside are ephemeral).
ensure_set_gid_dir() {
  mkdir -m 2755 -- "$1" 2>/dev/null
  # (`mkdir -m` sets the bit with a chmod just after the mkdir: give a racing consumer <= 5 s.)
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -d $1 && -g $1 ]] && return 0
    sleep 0.1
  done
  echo "${0##*/}: $1 must be a directory with the set-gid bit (chmod g+s)" >&2
  exit 1
}

# requeue_orphans: every claim of a consumer without a node goes back to the queue.
requeue_orphans() {
  local owner_dir owner item items
  for owner_dir in "$claimed_dir"/*/; do
    owner_dir=${owner_dir%/}
    owner=${owner_dir##*/}
    [[ -d $owner_dir && $owner != "$consumer" ]] || continue
    items=$(items_in "$owner_dir")
    [[ -n $items ]] || continue
    # Listed first, then the owner's node looked for: a claim seen was made after the owner's
    # node was created (this host applies changes in zxid order), so the node missing now means
    # that owner is gone. (Should its session merely have expired while it runs on, both may
    # run the item; the commit below still happens once.)
    [[ -e $consumers_dir/$owner ]] && continue
    while IFS= read -r item; do
      # (The owner may come back under its NAME meanwhile: stop moving its claims then. It may
      # also claim an item we just put back, and write that item's result here again: so each
      # result file is removed right after its own claim was moved, never all of them at the end,
      # and `process` counts an item done only by done/ITEM, never by its result file being gone.)
      [[ -e $consumers_dir/$owner ]] && break
      if mv -T -- "$owner_dir/$item" "$queue_dir/$item" 2>/dev/null; then
        rm -f -- "$owner_dir/$item.result"
        echo "$consumer: requeued $item of $owner"
      fi
    done <<<"$items"
  done
}

# process ITEM: run CMD on our claim of ITEM and commit its result once.
process() {
  local item=$1
  local claim=$claimed_dir/$consumer/$item result=$claimed_dir/$consumer/$item.result
  if [[ -e $done_dir/$item ]]; then
    # Committed by an earlier owner that died before deleting its claim.
    rm -f -- "$claim" "$result"
    echo "$consumer: already done $item"
    return 0
  fi
  local claim_fd
  if ! { exec {claim_fd}<"$claim"; } 2>/dev/null; then
    echo "$consumer: $item was requeued meanwhile (ours no more)"
    return 0
  fi
  # CMD's output in one create with its data (tee: one open, write, close).
  if ! "${command[@]}" <&"$claim_fd" {claim_fd}<&- | tee -- "$result" >/dev/null; then # (pipefail: either)
    exec {claim_fd}<&-
    rm -f -- "$result"
    if mkdir -p -- "$failed_dir" && mv -T -- "$claim" "$failed_dir/$item" 2>/dev/null; then
      echo "$consumer: CMD failed on $item; moved to $failed_dir" >&2
    else
      echo "$consumer: CMD failed on $item, which was requeued meanwhile" >&2
    fi
    return 0
  fi
  exec {claim_fd}<&-
  # The commit: RENAME_NOREPLACE, one txn. mv -n says nothing when the target exists. Only
  # done/ITEM tells that the item is committed: our result file may also be gone because a
  # consumer requeuing our NAME's claims of an earlier life removed it (see requeue_orphans).
  mv -n -T -- "$result" "$done_dir/$item" 2>/dev/null
  if [[ ! -e $done_dir/$item ]]; then
    echo "$consumer: could not commit $item; will retry" >&2
    return 1
  elif [[ -e $result ]]; then
    rm -f -- "$result"
    echo "$consumer: duplicate $item dropped (committed by another)"
  else
    echo "$consumer: done $item"
  fi
  rm -f -- "$claim"
}

# claim_and_process: one pass over the queue, oldest first. Returns 1 when nothing was claimed.
claim_and_process() {
  local item claimed=1
  while IFS= read -r item; do
    ready "$item" || continue
    mv -T -- "$queue_dir/$item" "$claimed_dir/$consumer/$item" 2>/dev/null || continue # lost
    claimed=0
    process "$item" || return 0
  done < <(queued_items)
  return "$claimed"
}

consume() {
  consumer=$1
  shift
  command=("$@")
  [[ $consumer =~ ^[A-Za-z0-9._-]+$ && $consumer != . && $consumer != .. ]] ||
    { echo "${0##*/}: bad consumer name '$consumer'" >&2; exit 2; }
  ensure_queue_dir
  mkdir -p -- "$state_dir" "$claimed_dir" "$done_dir" || exit 1
  ensure_set_gid_dir "$consumers_dir"
  # The watch before our node (so the watcher does not inherit it) and before the first listing.
  local events_fd watcher_pid
  exec {events_fd}< <(exec inotifywait -m -e create -e close_write -e moved_to -e delete \
    --format 'event %e %w%f' -- "$queue_dir" "$consumers_dir" 2>&1)
  watcher_pid=$!
  trap 'kill "$watcher_pid" 2>/dev/null' EXIT
  trap 'exit 0' TERM INT
  await_watch "$events_fd" "$queue_dir"
  local member_fd
  set -o noclobber # O_EXCL: a second live consumer of this NAME fails (EEXIST)
  exec {member_fd}>"$consumers_dir/$consumer" || exit 1
  set +o noclobber
  echo "pid=$$ host=$(hostname)" >&"$member_fd" || exit 1
  mkdir -p -- "$claimed_dir/$consumer" || exit 1
  echo "$consumer: consuming"
  local item line drained
  while :; do
    # Our claims not committed yet: left by an earlier consumer of our NAME, or a failed commit.
    while IFS= read -r item; do process "$item"; done < <(items_in "$claimed_dir/$consumer")
    requeue_orphans
    while claim_and_process; do :; done
    local read_status=0
    read -r -t "$recheck_s" -u "$events_fd" line || read_status=$?
    if ((read_status > 0 && read_status <= 128)); then
      echo "${0##*/}: the watch on $queue_dir ended (unmounted?)" >&2
      exit 1
    fi
    # (a burst of events is read at once, up to 1000: one pass after them)
    for ((drained = 0; drained < 1000; drained++)); do
      read -r -t 0.01 -u "$events_fd" _ || break
    done
  done
}

case $2 in
  put) (($# == 3)) || usage; put_item "$3" ;;
  take) (($# == 2)) || usage; take_item ;;
  consume) (($# >= 4)) || usage; consume "${@:3}" ;;
  *) usage ;;
esac
