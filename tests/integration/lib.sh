# Shared helpers for the quorumfs integration tests. Source it from a test script:
#
#   source "$(dirname "$0")/lib.sh"
#   start_node a                       # daemon on $TEST_TMP/a/data, mounted at $TEST_TMP/a/mnt
#   M=$(mnt_of a)
#   echo hi > "$M/f"
#   expect_eq "cat f" hi "$(cat "$M/f")"
#   expect_errno "rmdir '$M'/full" "Directory not empty"
#   finish                             # prints the tally, exits 0 only when every check held
#
# Checks record a failure and go on, so one run reports every broken promise, not just the first.
# Whatever happens — a failed check, an error, ctest's timeout — the EXIT trap and a watchdog unmount
# and kill, by PID, every daemon and helper process the test started.
#
# Environment: QUORUMFS_BIN (the daemon; ctest passes $<TARGET_FILE:quorumfs>),
#              QUORUMFS_TEST_DEADLINE_S (watchdog; ctest passes TIMEOUT minus a margin),
#              QUORUMFS_KEEP_TMP=1 keeps the temp dir for a post-mortem.

set -u -o pipefail
# Error texts are matched in English and listings sorted bytewise.
export LC_ALL=C
# CI runs with no SHELL in the environment, so flock -c and friends run /bin/sh (dash): make every
# run do the same, so a bash-only command string fails here as it would there.
export SHELL=/bin/sh

TEST_NAME=$(basename "$0" .sh)
CHECKS_PASSED=0
CHECKS_FAILED=0
SKIP_EXIT_CODE=77

QUORUMFS_BIN=${QUORUMFS_BIN:-}
if [[ -z $QUORUMFS_BIN || ! -x $QUORUMFS_BIN ]]; then
  echo "$TEST_NAME: QUORUMFS_BIN='$QUORUMFS_BIN' is not an executable" >&2
  exit 1
fi
# A FUSE mount needs the device and, for allow_other, root (the tests also switch to nobody).
if [[ ! -e /dev/fuse ]] || ((EUID != 0)); then
  echo "$TEST_NAME: SKIPPED: needs root and /dev/fuse" >&2
  exit "$SKIP_EXIT_CODE"
fi

TEST_TMP=$(mktemp -d "/tmp/quorumfs-it-$TEST_NAME.XXXXXX")
# nobody must be able to walk down to the mounts for the ACL tests.
chmod 755 "$TEST_TMP"
# The watchdog runs in another process: it learns what to clean up from these files, not variables.
PIDS_FILE=$TEST_TMP/.pids      # one PID per line: daemons and helper processes
MOUNTS_FILE=$TEST_TMP/.mounts  # one mountpoint per line
WATCHDOG_FIRED_FILE=$TEST_TMP/.watchdog-fired
: >"$PIDS_FILE"
: >"$MOUNTS_FILE"

declare -A NODE_PID=()

# is_mounted PATH: PATH is a mount in the kernel's table. (`mountpoint -q` says no for a FUSE mount
# whose daemon died, because its stat fails with ENOTCONN.)
is_mounted() {
  awk -v path="$1" '$5 == path { found = 1 } END { exit !found }' /proc/self/mountinfo
}

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Cleanup

# Stops by PID everything recorded (SIGTERM, 5 s, SIGKILL), then lazily unmounts what is left.
# Safe to run twice and from the watchdog.
cleanup_everything() {
  local mountpoint pid
  while read -r pid; do
    [[ -n $pid ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done <"$PIDS_FILE"
  local deadline=$((SECONDS + 5))
  while read -r pid; do
    [[ -n $pid ]] || continue
    while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]] &&
      ((SECONDS < deadline)); do
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done <"$PIDS_FILE"
  while read -r mountpoint; do
    [[ -n $mountpoint ]] || continue
    if is_mounted "$mountpoint"; then
      fusermount3 -u -z "$mountpoint" 2>/dev/null || umount -l "$mountpoint" 2>/dev/null || true
    fi
  done <"$MOUNTS_FILE"
}

on_exit() {
  local status=$?
  trap - EXIT
  if [[ -n ${WATCHDOG_PID:-} ]]; then
    kill -TERM "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
  fi
  cleanup_everything
  wait 2>/dev/null || true
  if [[ -e $WATCHDOG_FIRED_FILE ]]; then
    echo "$TEST_NAME: FAIL: the watchdog had to stop this test (something hung)" >&2
    ((status != 0)) || status=1
  fi
  if ((status != 0 && status != SKIP_EXIT_CODE)); then
    dump_daemon_logs
  fi
  local still_mounted=0 mountpoint
  while read -r mountpoint; do
    [[ -n $mountpoint ]] && is_mounted "$mountpoint" && still_mounted=1
  done <"$MOUNTS_FILE"
  if ((still_mounted)); then
    log "a mount would not go away; leaving $TEST_TMP in place"
  elif [[ ${QUORUMFS_KEEP_TMP:-0} == 1 ]]; then
    log "kept $TEST_TMP"
  else
    rm -rf "$TEST_TMP"
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

dump_daemon_logs() {
  local daemon_log
  for daemon_log in "$TEST_TMP"/*/daemon*.log; do
    [[ -f $daemon_log ]] || continue
    echo "----- last 40 lines of $daemon_log -----" >&2
    tail -n 40 "$daemon_log" >&2
  done
}

# A hung FUSE request would block this script in the kernel, where no trap can run; the watchdog
# kills the daemons and detaches the mounts first (which fails the hung calls with ENOTCONN), then
# stops the script. It fires before ctest's own TIMEOUT, which kills with SIGKILL and runs no trap.
start_watchdog() {
  local deadline_s=${QUORUMFS_TEST_DEADLINE_S:-300}
  local script_pid=$$
  (
    sleep "$deadline_s" &
    sleep_pid=$!
    trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
    wait "$sleep_pid"
    echo "$TEST_NAME: WATCHDOG: still running after ${deadline_s}s; killing daemons, unmounting" >&2
    : >"$WATCHDOG_FIRED_FILE"
    cleanup_everything
    if kill -0 "$script_pid" 2>/dev/null; then
      kill -TERM "$script_pid"
    else
      rm -rf "$TEST_TMP" # the script was killed outright (ctest's timeout): nobody else will
    fi
  ) &
  WATCHDOG_PID=$!
}
start_watchdog

# Record a helper process (a `sleep` holding an fd, an inotifywait) for cleanup.
track_pid() { echo "$1" >>"$PIDS_FILE"; }

# ---------------------------------------------------------------------------------------------
# Nodes

node_dir() { echo "$TEST_TMP/$1"; }
mnt_of() { echo "$TEST_TMP/$1/mnt"; }
data_of() { echo "$TEST_TMP/$1/data"; }
pid_of() { echo "${NODE_PID[$1]:-}"; }
log_of() { echo "$TEST_TMP/$1/daemon.log"; }

# start_node NAME [EXTRA_ARGS...]: starts a standalone daemon and waits (<= 10 s) for its mount.
# Restarting a NAME reuses its data dir. The daemon's output goes to $(log_of NAME) (appended).
# Returns non-zero (after logging why) if the daemon exits or the mount does not appear.
start_node() {
  local name=$1
  shift
  launch_node "$name" --data "$(data_of "$name")" "$(mnt_of "$name")" "$@"
}

# start_member NAME CONFIG [EXTRA_ARGS...]: as start_node, for an ensemble member configured by
# CONFIG (its dataDir must be $(data_of NAME), holding myid).
start_member() {
  local name=$1 config=$2
  shift 2
  launch_node "$name" --config "$config" "$(mnt_of "$name")" "$@"
}

# launch_node NAME DAEMON_ARGS...: runs the daemon in the background and waits for NAME's mount.
launch_node() {
  spawn_node "$@" && wait_mounted "$1"
}

# spawn_node NAME DAEMON_ARGS...: runs the daemon in the background (its pid in NODE_PID[NAME]).
spawn_node() {
  local name=$1
  shift
  local mountpoint daemon_log
  mountpoint=$(mnt_of "$name")
  daemon_log=$(log_of "$name")
  if is_mounted "$mountpoint"; then
    log "cannot start node $name: $mountpoint is still mounted"
    return 1
  fi
  mkdir -p "$(data_of "$name")" "$mountpoint"
  grep -qxF "$mountpoint" "$MOUNTS_FILE" || echo "$mountpoint" >>"$MOUNTS_FILE"
  echo "===== start $(date +%T.%N) $QUORUMFS_BIN $*" >>"$daemon_log"
  "$QUORUMFS_BIN" "$@" >>"$daemon_log" 2>&1 &
  NODE_PID[$name]=$!
  track_pid "$!"
}

# wait_mounted NAME [TIMEOUT_S]: waits (10 s by default) for the mount of the daemon spawn_node
# started. Non-zero (after logging why) if the daemon exits or the mount does not appear.
wait_mounted() {
  local name=$1 timeout_s=${2:-10}
  local mountpoint daemon_log pid
  mountpoint=$(mnt_of "$name")
  daemon_log=$(log_of "$name")
  pid=${NODE_PID[$name]}
  local deadline=$((SECONDS + timeout_s))
  while ! mountpoint -q "$mountpoint"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      log "daemon $name exited with status $? before mounting; its log:"
      tail -n 20 "$daemon_log" >&2
      NODE_PID[$name]=
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "daemon $name (pid $pid) did not mount $mountpoint within $timeout_s s"
      return 1
    fi
    sleep 0.05
  done
}

# must_start_node NAME: start_node, and end the test at once when that fails.
must_start_node() {
  start_node "$@" || fatal "could not start node $1"
}

# wait_pid_exit PID TIMEOUT_S: 0 when PID exited within the time (its status in WAITED_STATUS).
wait_pid_exit() {
  local pid=$1 timeout_s=$2
  local deadline=$((SECONDS + timeout_s))
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie child still answers kill -0; `ps` tells it apart.
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && break
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
  wait "$pid" 2>/dev/null
  WAITED_STATUS=$?
  return 0
}

# wait_unmounted MOUNTPOINT TIMEOUT_S
wait_unmounted() {
  local mountpoint=$1 timeout_s=$2
  local deadline=$((SECONDS + timeout_s))
  while is_mounted "$mountpoint"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# stop_node NAME [SIGNAL]: SIGTERM (or SIGNAL), bounded wait (10 s), then kill -9 and a lazy unmount.
# Returns 0 when the daemon went away by itself and left no mount behind.
stop_node() {
  local name=$1 signal=${2:-TERM}
  local pid=${NODE_PID[$name]:-}
  local mountpoint
  mountpoint=$(mnt_of "$name")
  local clean=0
  if [[ -n $pid ]]; then
    kill -"$signal" "$pid" 2>/dev/null || true
    if wait_pid_exit "$pid" 10; then
      STOP_STATUS=$WAITED_STATUS
    else
      log "daemon $name (pid $pid) still running 10 s after SIG$signal; kill -9"
      kill -KILL "$pid" 2>/dev/null || true
      wait_pid_exit "$pid" 5 || true
      STOP_STATUS=timeout
      clean=1
    fi
    NODE_PID[$name]=
  fi
  # auto_unmount detaches the mount when the daemon dies; give it a moment before forcing.
  if ! wait_unmounted "$mountpoint" 5; then
    log "mount $mountpoint still there after daemon $name stopped; fusermount3 -u -z"
    fusermount3 -u -z "$mountpoint" 2>/dev/null || umount -l "$mountpoint" 2>/dev/null || true
    clean=1
  fi
  return "$clean"
}

# ---------------------------------------------------------------------------------------------
# Checks

pass() {
  CHECKS_PASSED=$((CHECKS_PASSED + 1))
  [[ ${QUORUMFS_TEST_VERBOSE:-0} == 1 ]] && log "ok: $*"
  return 0
}

fail() {
  CHECKS_FAILED=$((CHECKS_FAILED + 1))
  echo "$TEST_NAME: FAIL: $*" >&2
  return 1
}

fatal() {
  fail "$*"
  echo "$TEST_NAME: stopping: cannot go on after that" >&2
  finish
}

# expect_eq WHAT EXPECTED SEEN
expect_eq() {
  local what=$1 expected=$2 seen=$3
  if [[ $expected == "$seen" ]]; then
    pass "$what"
  else
    fail "$what: expected [$(printable "$expected")], saw [$(printable "$seen")]"
  fi
}

# expect_match WHAT EXTENDED_REGEX SEEN
expect_match() {
  local what=$1 pattern=$2 seen=$3
  if [[ $seen =~ $pattern ]]; then
    pass "$what"
  else
    fail "$what: expected to match /$pattern/, saw [$(printable "$seen")]"
  fi
}

# expect_true WHAT CMD...: CMD must succeed (its stderr is shown when it does not).
expect_true() {
  local what=$1
  shift
  local output
  if output=$(timeout 60 "$@" 2>&1); then
    pass "$what"
  else
    fail "$what: '$*' failed (status $?): $(printable "$output")"
  fi
}

# run_shell CMD: runs CMD in bash with a time limit; sets RUN_STATUS and RUN_OUTPUT (stdout+stderr).
run_shell() {
  RUN_OUTPUT=$(timeout 60 bash -c "$1" 2>&1)
  RUN_STATUS=$?
}

# expect_ok CMD: a shell command line that must succeed.
expect_ok() {
  run_shell "$1"
  if ((RUN_STATUS == 0)); then
    pass "$1"
  else
    fail "'$1': expected success, got status $RUN_STATUS: $(printable "$RUN_OUTPUT")"
  fi
}

# expect_fail CMD: a shell command line that must fail (any error).
expect_fail() {
  run_shell "$1"
  if ((RUN_STATUS != 0 && RUN_STATUS != 124)); then
    pass "$1 fails"
    [[ ${QUORUMFS_TEST_VERBOSE:-0} == 1 ]] && log "  it said: $RUN_OUTPUT"
  elif ((RUN_STATUS == 124)); then
    fail "'$1': expected an error, it hung for 60 s"
  else
    fail "'$1': expected an error, it succeeded: $(printable "$RUN_OUTPUT")"
  fi
}

# expect_errno CMD ERRNO_TEXT: CMD must fail and its message contain ERRNO_TEXT, the strerror text
# (an extended regex, so "Operation not permitted|Read-only file system" accepts either).
expect_errno() {
  local command=$1 errno_text=$2
  run_shell "$command"
  if ((RUN_STATUS == 124)); then
    fail "'$command': expected [$errno_text], it hung for 60 s"
  elif ((RUN_STATUS == 0)); then
    fail "'$command': expected [$errno_text], it succeeded: $(printable "$RUN_OUTPUT")"
  elif [[ $RUN_OUTPUT =~ $errno_text ]]; then
    pass "'$command' -> $errno_text"
    [[ ${QUORUMFS_TEST_VERBOSE:-0} == 1 ]] && log "  it said: $RUN_OUTPUT"
  else
    fail "'$command': expected [$errno_text], got status $RUN_STATUS: $(printable "$RUN_OUTPUT")"
  fi
  return 0
}

# expect_exists / expect_absent PATH
expect_exists() {
  if [[ -e $1 ]]; then pass "$1 exists"; else fail "expected $1 to exist; it does not (dir has: $(listing "$(dirname "$1")"))"; fi
}
expect_absent() {
  if [[ ! -e $1 ]]; then pass "$1 absent"; else fail "expected $1 to be absent; it exists"; fi
}

# expect_content PATH EXPECTED: the file exists and holds exactly EXPECTED.
expect_content() {
  local path=$1 expected=$2 seen
  # (the braces hide bash's warning about NUL bytes in a command substitution)
  if ! { seen=$(timeout 60 cat -- "$path" 2>&1); } 2>/dev/null; then
    fail "content of $path: expected [$(printable "$expected")], cat failed: $seen"
    return 0
  fi
  expect_eq "content of $path" "$expected" "$seen"
}

# expect_listing DIR EXPECTED: `ls -A DIR` joined by spaces.
expect_listing() {
  expect_eq "listing of $1" "$2" "$(listing "$1")"
}

# wait_for TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds; 0 when it did.
# lines_at_least N PATTERN FILE: FILE has at least N lines matching PATTERN now. For wait_for,
# which runs its command again and again (a "$(...)" in its arguments is expanded only once).
lines_at_least() { (($(grep -c -- "$2" "$3" 2>/dev/null) >= $1)); }

wait_for() {
  local timeout_s=$1
  shift
  local deadline=$((SECONDS + timeout_s))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# put PATH CONTENT: writes with dd, which reports an error of close(2) — where quorumfs commits.
put() {
  printf '%s' "$2" | timeout 60 dd of="$1" status=none
}

# write_once PATH CONTENT [>|>>]: one open(2) (O_TRUNC for >, O_APPEND for >>), one write, one
# close(2), and no dup — unlike `echo > f` and dd, which dup2 the descriptor and close the original,
# a close that already flushes (and so commits) the O_TRUNC alone. Fails with the errno of open,
# write or close.
write_once() {
  timeout 60 perl -e 'open(my $f, $ARGV[2], $ARGV[0]) or die "open: $!\n";
    print $f $ARGV[1] or die "write: $!\n"; close($f) or die "close: $!\n"' "$1" "$2" "${3:->}"
}

# write_repeated_once PATH TEXT COUNT: like write_once with TEXT repeated COUNT times (large data
# that would not fit in an argument).
write_repeated_once() {
  timeout 60 perl -e 'open(my $f, ">", $ARGV[0]) or die "open: $!\n";
    print $f $ARGV[1] x $ARGV[2] or die "write: $!\n"; close($f) or die "close: $!\n"' "$@"
}
# (exported so that command lines given to expect_errno & co. can use them)
export -f write_once write_repeated_once

listing() { ls -A "$1" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }

printable() {
  local text=$1
  if ((${#text} > 300)); then text="${text:0:300}...(${#1} bytes)"; fi
  printf '%s' "$text" | tr '\n' '|'
}

# xattr PATH NAME: prints the value of an xattr; on failure prints "<error: getfattr's message>"
# (so a comparison shows why) and returns 1.
xattr() {
  local value
  if value=$(timeout 60 getfattr --absolute-names --only-values -n "$2" -- "$1" 2>&1); then
    printf '%s' "$value"
  else
    printf '<error: %s>' "$value"
    return 1
  fi
}

# finish: prints the tally and exits; non-zero when any check failed.
finish() {
  echo "$TEST_NAME: $CHECKS_PASSED checks held, $CHECKS_FAILED broken"
  if ((CHECKS_FAILED > 0)); then exit 1; fi
  exit 0
}
