#!/usr/bin/env bash
# flock(1), flock(2) and fcntl locks on the mounts of a 3-member ensemble are ONE lock
# (docs/guarantees.md §6; docs/mount.md, "Locks"): mutual exclusion across hosts, arrival order,
# shared and exclusive,
# -n and -w, release when the holder dies, waiters that leave nothing behind when killed or
# interrupted, the fencing token, and a holder whose host is cut off past the session timeout.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b) C=$(mnt_of c)
WORK=$TEST_TMP/work  # outside the mounts: what the contenders report
mkdir -p "$WORK"

# waiters_of FILE: the lock's waiter nodes (holders first), as ls shows them on host a.
waiters_of() {
  local ino
  ino=$(stat -c %i "$1") || return
  ls "$A/.locks/$ino" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
count_waiters() { local w; w=$(waiters_of "$1"); [[ -z $w ]] && echo 0 || wc -w <<<"$w"; }
# waiters_are FILE N: the lock of FILE has N nodes now (for wait_for, which runs it again and
# again).
waiters_are() { [[ $(count_waiters "$1") == "$2" ]]; }

# state_is MNT STATE: the root of MNT says user.zk.state=STATE (for wait_for).
state_is() { [[ $(xattr "$1" user.zk.state) == "$2" ]]; }

# hold HOST_MNT FILE GO: a holder that keeps the lock until $GO exists; its PID in HOLDER.
hold() {
  local mnt=$1 file=$2 go=$3
  flock "$mnt/$file" -c "while [ ! -e '$go' ]; do sleep 0.02; done" &
  HOLDER=$!
  track_pid "$HOLDER"
}

# ---- flock FILE cmd creates FILE, also when three hosts do it at once --------------------------
# (Waits name their jobs: the daemons are this shell's children too.)
jobs_started=()
for host in a b c; do
  flock "$(mnt_of $host)/created-by-flock" -c true 2>"$WORK/create-$host.err" &
  jobs_started+=($!)
  track_pid $!
done
wait "${jobs_started[@]}"
errors=$(cat "$WORK"/create-*.err)
expect_eq "flock FILE on three hosts at once, FILE missing: no error" "" "$errors"
expect_exists "$B/created-by-flock"

# ---- mutual exclusion: 3 hosts x 15 increments of one counter, none lost ------------------------
echo 0 >"$A/counter"
touch "$A/lock"
wait_for 5 test -e "$C/counter" -a -e "$B/lock" || fatal "counter and lock did not reach b and c"
jobs_started=()
for host in a b c; do
  H=$(mnt_of $host)
  (
    for _ in $(seq 15); do
      flock "$H/lock" -c "v=\$(cat '$H/counter'); echo \$((v + 1)) >'$H/counter'" || echo "flock failed" >>"$WORK/count-errors"
    done
  ) &
  jobs_started+=($!)
  track_pid $!
done
wait "${jobs_started[@]}"
expect_eq "45 increments under the lock from 3 hosts" 45 "$(cat "$A/counter")"
expect_eq "no flock failed" "" "$(cat "$WORK/count-errors" 2>/dev/null)"
wait_for 5 waiters_are "$A/lock" 0
expect_eq "no waiter node left after the contention" 0 "$(count_waiters "$A/lock")"

# ---- arrival order: each waiter waits its turn ---------------------------------------------------
touch "$A/fifo"
wait_for 5 test -e "$C/fifo"
hold "$A" fifo "$WORK/fifo-go"
wait_for 5 waiters_are "$A/fifo" 1 || fail "the holder's node did not appear"
order=(b1 c1 a2 b2 c2)
jobs_started=("$HOLDER")
for index in "${!order[@]}"; do
  name=${order[$index]}
  mnt=$(mnt_of "${name:0:1}")
  flock "$mnt/fifo" -c "echo $name >>'$WORK/fifo-order'" &
  jobs_started+=($!)
  track_pid $!
  wait_for 5 waiters_are "$A/fifo" $((index + 2)) || fail "waiter $name did not queue"
done
expect_match "ls shows the holder and the waiters in order" \
  "^write-lock-[0-9]{10}( write-lock-[0-9]{10}){5}$" "$(waiters_of "$A/fifo")"
touch "$WORK/fifo-go"
wait "${jobs_started[@]}"
expect_eq "waiters served in arrival order" "b1 c1 a2 b2 c2" "$(tr '\n' ' ' <"$WORK/fifo-order" | sed 's/ $//')"

# ---- shared and exclusive ------------------------------------------------------------------------
touch "$A/rw"
wait_for 5 test -e "$B/rw" -a -e "$C/rw"
# Two shared holders on two hosts, each waiting inside its lock for the other to be inside too.
for host in a b; do
  other=$([[ $host == a ]] && echo b || echo a)
  flock -s "$(mnt_of $host)/rw" -c "touch '$WORK/in-$host'; for _ in \$(seq 500); do [ -e '$WORK/in-$other' ] && break; sleep 0.02; done
    [ -e '$WORK/in-$other' ] || exit 1; while [ ! -e '$WORK/rw-go' ]; do sleep 0.02; done" &
  eval "shared_$host=$!"
done
wait_for 10 test -e "$WORK/in-a" -a -e "$WORK/in-b"
expect_fail "flock -n -x '$C/rw' true"
touch "$WORK/rw-go"
wait "$shared_a"
status_a=$?
wait "$shared_b"
status_b=$?
expect_eq "shared holders on a and b were inside at the same time" "0 0" "$status_a $status_b"
# The kernel sends a dead holder's RELEASE after its exit (docs/kernel.md): the lock goes a moment
# later, and c's try-lock sees it once c has applied that.
if wait_for 5 flock -n -x "$C/rw" true; then pass "exclusive on c once the shared holders left"; else fail "exclusive on c still refused 5 s after the shared holders left"; fi

# ---- -n and -w ---------------------------------------------------------------------------------
touch "$A/busy"
wait_for 5 test -e "$B/busy" -a -e "$C/busy"
hold "$A" busy "$WORK/busy-go"
wait_for 5 waiters_are "$A/busy" 1
start=$(date +%s%N)
flock -n "$B/busy" true
expect_eq "flock -n on a held lock fails (EWOULDBLOCK: exit 1)" 1 "$?"
flock -w 0.5 "$C/busy" true
expect_eq "flock -w 0.5 on a held lock times out (exit 1)" 1 "$?"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_true "flock -w 0.5 waited about its timeout (${elapsed_ms} ms)" test "$elapsed_ms" -ge 500 -a "$elapsed_ms" -lt 5000
wait_for 5 waiters_are "$A/busy" 1
expect_eq "the timed-out and the -n waiter left no node" 1 "$(count_waiters "$A/busy")"
perl -e 'use Fcntl qw(:flock); open(my $f, "<", $ARGV[0]) or die; exit(flock($f, LOCK_EX | LOCK_NB) ? 0 : ($!{EWOULDBLOCK} ? 11 : 1))' "$B/busy"
expect_eq "flock(2) LOCK_NB on a held lock: EWOULDBLOCK" 11 "$?"

# ---- waiters killed or interrupted leave nothing -------------------------------------------------
for signal in KILL INT; do
  # A background job ignores SIGINT: give the waiter the default action back.
  perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' flock "$B/busy" true &
  waiter=$!
  track_pid "$waiter"
  wait_for 5 waiters_are "$A/busy" 2 || fail "the waiter did not queue"
  kill -"$signal" "$waiter"
  wait "$waiter" 2>/dev/null
  if wait_for 5 waiters_are "$A/busy" 1; then
    pass "a waiter killed with SIG$signal left no node"
  else
    fail "SIG$signal waiter left its node: $(waiters_of "$A/busy")"
  fi
done

# ---- kill -9 of the holder hands the lock over at once -------------------------------------------
flock "$C/busy" -c "date +%s%N >'$WORK/busy-got'" &
next=$!
track_pid "$next"
wait_for 5 waiters_are "$A/busy" 2
killed_at=$(date +%s%N)
# flock(1) waits for its command, which holds the lock's descriptor too: both go.
pkill -9 -P "$HOLDER"
kill -9 "$HOLDER"
wait "$next"
handover_ms=$((($(cat "$WORK/busy-got") - killed_at) / 1000000))
log "kill -9 of the holder on a: the waiter on c had the lock ${handover_ms} ms later"
expect_true "the waiter on c got the lock after the holder was killed (${handover_ms} ms)" test "$handover_ms" -lt 3000
touch "$WORK/busy-go"

# ---- the fencing token
# ----------------------------------------------------------------------------
touch "$A/fenced"
token1=$(flock "$A/fenced" getfattr --only-values -n user.zk.lock.token "$A/fenced" 2>/dev/null)
token2=$(flock "$B/fenced" getfattr --only-values -n user.zk.lock.token "$B/fenced" 2>/dev/null)
expect_match "a holder reads its token" "^0x[0-9a-f]+$" "$token1"
expect_true "the next holder's token is larger ($token1 < $token2)" test $((token1)) -lt $((token2))
expect_errno "getfattr -n user.zk.lock.token '$A/fenced'" "No such attribute"

# ---- fcntl and lockf ----------------------------------------------------------------------------
touch "$A/posix"
wait_for 5 test -e "$B/posix"
cat >"$WORK/posix.py" <<'EOF'
import fcntl, os, sys
path, mode = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
if mode == "hold":
    fcntl.lockf(fd, fcntl.LOCK_EX)
    open(sys.argv[3], "w").close()
    while not os.path.exists(sys.argv[4]):
        pass
    os.close(fd)  # no unlock: the close drops a POSIX lock
elif mode == "try":
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("locked")
    except OSError as e:
        print(os.strerror(e.errno))
elif mode == "range":
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 5)
        print("locked")
    except OSError as e:
        print(os.strerror(e.errno))
EOF
python3 "$WORK/posix.py" "$A/posix" hold "$WORK/posix-in" "$WORK/posix-go" &
track_pid $!
posix_holder=$!
wait_for 5 test -e "$WORK/posix-in"
expect_eq "lockf F_TLOCK on b while a holds an fcntl lock" "Resource temporarily unavailable" \
  "$(python3 "$WORK/posix.py" "$B/posix" try)"
expect_eq "flock -n on c while a holds an fcntl lock (one lock)" 1 "$(flock -n "$C/posix" true; echo $?)"
touch "$WORK/posix-go"
wait "$posix_holder"
expect_eq "lockf F_TLOCK on b once the holder closed its descriptor" "locked" "$(python3 "$WORK/posix.py" "$B/posix" try)"
expect_eq "a byte-range lock is refused" "No locks available" "$(python3 "$WORK/posix.py" "$B/posix" range)"

# ---- a POSIX lock dropped by close: the data written under it is there for the next holder ------
echo 0 >"$A/posix-counter"
wait_for 5 test -e "$C/posix-counter"
cat >"$WORK/posix-count.py" <<'EOF'
import fcntl, os, sys
for _ in range(10):
    fd = os.open(sys.argv[1], os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    value = int(os.read(fd, 64) or b"0")
    os.pwrite(fd, b"%d\n" % (value + 1), 0)
    os.close(fd)  # no unlock: the close commits, then drops the lock
EOF
jobs_started=()
for host in a b c; do
  python3 "$WORK/posix-count.py" "$(mnt_of $host)/posix-counter" &
  jobs_started+=($!)
  track_pid $!
done
wait "${jobs_started[@]}"
expect_eq "30 increments under lockf from 3 hosts, each dropped by close" 30 "$(cat "$A/posix-counter")"

# ---- a conversion: shared, then exclusive without waiting, as the only holder
# -----------------------
touch "$A/convert"
expect_ok "exec 9<'$A/convert' && flock -s 9 && flock -x -n 9 && flock -s -n 9"

# ---- the lock service's nodes are its own --------------------------------------------------------
touch "$A/guarded"
flock "$A/guarded" -c "touch '$WORK/guarded-in'; while [ ! -e '$WORK/guarded-go' ]; do sleep 0.02; done" &
guard=$!
track_pid "$guard"
wait_for 5 test -e "$WORK/guarded-in"
guarded_dir="$A/.locks/$(stat -c %i "$A/guarded")"
expect_errno "rm '$guarded_dir'/write-lock-*" "Operation not permitted"
expect_errno "touch '$guarded_dir/forged'" "Operation not permitted"
expect_errno "mkdir '$A/.locks/999'" "Operation not permitted"
expect_eq "the holder's node is still there" 1 "$(count_waiters "$A/guarded")"
touch "$WORK/guarded-go"
wait "$guard"

# ---- the holder's host is cut off past the session timeout
# -----------------------------------------
follower=b
[[ $(leader_name) == b ]] && follower=a
other=c
[[ $(leader_name) == c ]] && other=$([[ $follower == a ]] && echo b || echo a)
F=$(mnt_of "$follower") O=$(mnt_of "$other")
touch "$F/lost"
wait_for 5 test -e "$O/lost"
perl -MPOSIX -e '$| = 1; use Fcntl qw(:flock); open(my $f, ">>", $ARGV[0]) or die "open: $!"; flock($f, LOCK_EX) or die "flock: $!";
  open(my $in, ">", $ARGV[1]); close($in);
  sleep 0.05 until -e $ARGV[2];
  print((syswrite($f, "x") ? "write: ok" : "write: $!"), "\n"); POSIX::_exit(0);' "$F/lost" "$WORK/lost-in" "$WORK/lost-go" >"$WORK/lost-result" 2>&1 &
lost_holder=$!
track_pid "$lost_holder"
wait_for 5 test -e "$WORK/lost-in" || fail "the holder on $follower did not get the lock"
flock "$O/lost" -c "touch '$WORK/lost-taken'" &
taker=$!
track_pid "$taker"
wait_for 5 waiters_are "$O/lost" 2
kill -STOP "$(pid_of "$follower")"
if wait_for 15 test -e "$WORK/lost-taken"; then
  pass "the lock of $follower, silent past the session timeout, went to the waiter on $other"
else
  fail "the waiter on $other did not get the lock within 15 s of $follower falling silent"
fi
kill -CONT "$(pid_of "$follower")"
wait_writable "$follower" 20 || fail "$follower did not come back"
expect_eq "the root of $follower says its descriptor expired" expired "$(xattr "$F" user.zk.state)"
touch "$WORK/lost-go"
wait "$lost_holder"
expect_eq "the old holder's descriptor fails once its host is back" "write: Stale file handle" "$(cat "$WORK/lost-result")"
wait_for 5 state_is "$F" synced
expect_eq "synced again once the expired descriptor is closed" synced "$(xattr "$F" user.zk.state)"

finish
