#!/usr/bin/env bash
# A host the leader stopped hearing for longer than sessionTimeout (1.5 s here) loses its sessions
# for good: its ephemerals go on every host, and when it is heard again, the descriptors that owned
# them fail with ESTALE (docs/mount.md, "Expired sessions"); new ephemerals there work. Played on a
# follower, then on the leader (whose successor expires it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 3
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a)
mkdir "$A/members" && chmod 2755 "$A/members" || fatal "mkdir members (set-gid)"
for name in b c; do
  wait_for 5 test -g "$(mnt_of "$name")/members" || fatal "members has no set-gid bit on $name"
done

# expire_host HOST: HOST's daemon is stopped past the session timeout while a process there holds
# fd 3 on an ephemeral (from `exec 3>`), then continued.
expire_host() {
  local host=$1 name others=()
  for name in a b c; do [[ $name == "$host" ]] || others+=("$name"); done
  local H O
  H=$(mnt_of "$host") O=$(mnt_of "${others[0]}")
  log "leader: $(leader_name); the silent host: $host"

  # Once told to go on, the holder writes and closes through that very descriptor, and says how
  # each call went.
  local go=$TEST_TMP/go-$host result=$TEST_TMP/result-$host
  (
    exec 3>"$H/members/holder-$host" || exit 1
    while [[ ! -e $go ]]; do sleep 0.05; done
    perl -MPOSIX -e 'print(defined(POSIX::write(3, "x", 1)) ? "write: ok\n" : "write: $!\n");
      print(defined(POSIX::close(3)) ? "close: ok\n" : "close: $!\n")' >"$result" 2>&1
    exec 3>&-
    exec sleep 600
  ) &
  local holder=$!
  track_pid "$holder"
  wait_for 5 test -e "$O/members/holder-$host" || fatal "the ephemeral of $host did not appear on ${others[0]}"

  # Silent: stopped, not dead (its connections stay open).
  local daemon
  daemon=$(pid_of "$host")
  kill -STOP "$daemon"
  for name in "${others[@]}"; do
    if wait_for 15 test ! -e "$(mnt_of "$name")/members/holder-$host"; then
      pass "$host silent: the leader expired its session, its ephemeral is gone on $name"
    else
      fail "the ephemeral of $host is still on $name 15 s after $host fell silent"
    fi
  done
  kill -CONT "$daemon"

  if wait_for 15 test ! -e "$H/members/holder-$host"; then
    pass "$host, heard again, applied the close: the ephemeral is gone there too"
  else
    fail "the ephemeral is still on $host 15 s after it was heard again"
  fi
  touch "$go"
  wait_for 10 grep -q '^close:' "$result" || fail "the holder on $host did not write and close within 10 s"
  expect_eq "the write and close on fd 3 after the session of $host expired" \
    "write: Stale file handle;close: Stale file handle;" "$(tr '\n' ';' <"$result")"
  kill "$holder" 2>/dev/null

  # A new session on that host: a new ephemeral, whose descriptor writes and closes as usual.
  (exec 3>"$H/members/again-$host" && exec sleep 600) &
  local again=$!
  track_pid "$again"
  if wait_for 5 test -e "$O/members/again-$host"; then
    pass "a new ephemeral on $host after the expiry appears on ${others[0]}"
  else
    fail "a new ephemeral on $host did not appear on ${others[0]}"
  fi
  write_once "$H/members/written-$host" "after expiry" && pass "a new ephemeral descriptor on $host writes and closes" ||
    fail "write and close through a new ephemeral descriptor on $host failed"
  kill "$again"
  if wait_for 5 test ! -e "$O/members/again-$host"; then
    pass "the new ephemeral of $host goes when its holder does"
  else
    fail "the new ephemeral of $host stayed on ${others[0]} after its holder died"
  fi
}

follower=b
[[ $(leader_name) == b ]] && follower=a
expire_host "$follower"
expect_match "$follower logged the expiry" "was closed while its descriptor .* is open" "$(cat "$(log_of "$follower")")"
wait_writable a 20 || fatal "no leader after $follower came back"
leader=$(leader_name)
[[ -n $leader ]] || fatal "no leader named in the logs"
expire_host "$leader"

finish
