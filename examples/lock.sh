#!/usr/bin/env bash
# A lock for the whole ensemble: run CMD while holding MOUNT/locks/NAME, with flock(1). Processes
# on every host that run under the same NAME run one at a time, in the order they asked
# (ZooKeeper's lock recipe, kept by the mount: docs/mount.md, "Locks").
#
#   $ examples/lock.sh /mnt/quorumfs deploy sh -c 'echo "token $LOCK_TOKEN"; sleep 30' &
#   token 0x300000012
#   $ examples/lock.sh /mnt/quorumfs deploy status           # on any host
#   write-lock-0000000003 host=2 pid=4711 mode=exclusive kind=flock
#   write-lock-0000000004 host=3 pid=5120 mode=exclusive kind=flock
#   $ LOCK_WAIT_S=2 examples/lock.sh /mnt/quorumfs deploy true; echo "status $?"
#   lock.sh: /mnt/quorumfs/locks/deploy is held elsewhere; gave up after 2 s
#   status 1
#   $ LOCK_SHARED=1 examples/lock.sh /mnt/quorumfs deploy cat report   # shared: with other shared
#
# CMD runs with LOCK_TOKEN set to the lock's fencing token (user.zk.lock.token: ever increasing per
# lock), for a resource that must refuse a holder that lost the lock (a host cut off past the
# session timeout). The lock is held through flock's descriptor, which CMD inherits: it is
# released when CMD and flock (with any background child of CMD) have exited or been killed; a host
# that is lost releases its locks after the session timeout. The script exits
# with CMD's status (whatever it is, 1 and 75 included), or 1 when the lock could not be had
# within LOCK_WAIT_S (default: wait for ever) — told apart by whether CMD was started, not by the
# number. `status` lists holders first, then waiters, in the order they will be served.
# Lock files, not directories: a flock on a directory never leaves the host.
set -u -o pipefail
export LC_ALL=C

usage() {
  echo "usage: $0 MOUNT NAME CMD [ARGS...]   run CMD holding the lock NAME" >&2
  echo "       $0 MOUNT NAME status          the lock's holders, then its waiters" >&2
  exit 2
}

(($# >= 3)) || usage
mount=$1
name=$2
shift 2
[[ $name =~ ^[A-Za-z0-9._-]+$ && $name != . && $name != .. ]] ||
  { echo "${0##*/}: bad lock name '$name'" >&2; exit 2; }
lock_file=$mount/locks/$name

if [[ $1 == status && $# == 1 ]]; then
  [[ -e $lock_file ]] || exit 0
  waiters_dir=$mount/.locks/$(stat -c %i -- "$lock_file") || exit 1
  [[ -d $waiters_dir ]] || exit 0
  for path in "$waiters_dir"/*lock-*; do
    [[ -f $path ]] && printf '%s %s\n' "${path##*/}" "$(cat -- "$path" 2>/dev/null)"
  done
  exit 0
fi

mkdir -p -- "$mount/locks" || exit 1
# (flock would create the file too; this leaves it with no data: `>>` of nothing)
[[ -e $lock_file ]] || : >>"$lock_file" || exit 1
flock_options=(--exclusive)
[[ ${LOCK_SHARED:-0} == 1 ]] && flock_options=(--shared)
[[ -n ${LOCK_WAIT_S:-} ]] && flock_options+=(-w "$LOCK_WAIT_S")
# Whether the lock was had is not read from the status (flock's own "gave up" code, -E, is a
# number CMD may exit with too): the shell flock runs once it holds the lock writes a byte into
# this pipe (opened read-write: nothing blocks, and nothing is left behind on any exit).
exec {held_fd}<> <(:) || exit 1
# The token is readable by the locking process and its descendants: flock(1) with a file runs
# CMD as its child, so a shell in between reads it for CMD.
# shellcheck disable=SC2016  # (the $ are the inner shell's)
flock "${flock_options[@]}" -- "$lock_file" bash -c '
  printf held >&"$1"
  eval "exec $1>&-"
  LOCK_TOKEN=$(getfattr --absolute-names --only-values -n user.zk.lock.token -- "$0" 2>/dev/null)
  export LOCK_TOKEN
  exec "${@:2}"' "$lock_file" "$held_fd" "$@"
status=$?
if ! read -r -t 0 -u "$held_fd"; then
  if [[ -n ${LOCK_WAIT_S:-} ]] && ((status == 1)); then
    echo "${0##*/}: $lock_file is held elsewhere; gave up after $LOCK_WAIT_S s" >&2
  else
    echo "${0##*/}: could not lock $lock_file (flock status $status)" >&2
  fi
  exit 1
fi
exit "$status"
