#!/usr/bin/env bash
# ZooKeeper's create flags through mode bits (docs/guarantees.md §4): a sticky directory gives its
# children a 10-digit sequential suffix, a set-gid directory makes the files created in it ephemeral
# — alive exactly as long as the open file description that created them.
source "$(dirname "$0")/lib.sh"

must_start_node a
M=$(mnt_of a)

# --- sequential: the suffix comes from the parent's counter, starting at 0
expect_ok "mkdir -m 1755 '$M/q'"
expect_eq "mode of the sticky dir" 1755 "$(stat -c %a "$M/q")"
echo first >"$M/q/job-"
echo second >"$M/q/job-"
expect_listing "$M/q" "job-0000000000 job-0000000001"
expect_content "$M/q/job-0000000000" first
expect_content "$M/q/job-0000000001" second
expect_absent "$M/q/job-"
expect_ok "mkdir '$M/q/dir-'"
expect_exists "$M/q/dir-0000000002"
expect_eq "a sequential mkdir makes a directory" directory "$(stat -c %F "$M/q/dir-0000000002" 2>&1)"

# The creator learns the real name from user.zk.name on its descriptor.
exec 3>"$M/q/job-"
echo third >&3
name=$(getfattr --absolute-names --only-values -n user.zk.name /proc/self/fd/3 2>&1)
exec 3>&-
expect_match "user.zk.name on the fd of a sequential create" '(^|/)job-0000000003$' "$name"
log "user.zk.name read: $name"
expect_content "$M/q/job-0000000003" third

# chmod +t later turns an ordinary directory sequential.
mkdir "$M/later"
echo plain >"$M/later/n-"
expect_ok "chmod +t '$M/later'"
# ("n-" itself exists now, so opening it again would open that file; use a new prefix)
echo seq >"$M/later/m-"
expect_listing "$M/later" "m-0000000001 n-"

# expect_gone_at_once PATH: absent right after the close that ended it; if not, says how long it
# took to go (bounded 5 s).
expect_gone_at_once() {
  local start_ns=$(date +%s%N)
  if [[ ! -e $1 ]]; then
    pass "$1 gone at once"
  else
    local deadline_ns=$((start_ns + 5000000000))
    while [[ -e $1 ]] && (($(date +%s%N) < deadline_ns)); do sleep 0.002; done
    if [[ -e $1 ]]; then
      fail "$1 still there 5 s after the close that should have deleted it"
    else
      fail "$1 still there right after the close; gone $((($(date +%s%N) - start_ns) / 1000)) us later"
    fi
  fi
}

# --- ephemeral: lives as long as the open file description that created it
expect_ok "mkdir -m 2755 '$M/members'"
expect_eq "mode of the set-gid dir" 2755 "$(stat -c %a "$M/members")"
exec 3>"$M/members/x"
echo alive >&3
expect_exists "$M/members/x"
expect_listing "$M/members" "x"
owner=$(xattr "$M/members/x" user.zk.ephemeralOwner)
expect_match "ephemeralOwner of an ephemeral file is a non-zero session id" '^(0x)?0*[1-9a-fA-F][0-9a-fA-F]*$' "$owner"
# An ephemeral node cannot have children (it is a file, and ZooKeeper forbids them anyway).
expect_errno "mkdir '$M/members/x/child'" "Not a directory"
expect_errno "echo c > '$M/members/x/child'" "Not a directory"
exec 3>&-
expect_gone_at_once "$M/members/x"
expect_listing "$M/members" ""

# A dup'ed descriptor keeps it alive; the last close deletes it.
exec 3>"$M/members/dup"
exec 4>&3
exec 3>&-
expect_exists "$M/members/dup"
exec 4>&-
expect_gone_at_once "$M/members/dup"

# A holder killed with SIGKILL: the node goes at once (bounded poll of 5 s).
sleep 600 3>"$M/members/held" &
holder=$!
track_pid "$holder"
if wait_for 5 test -e "$M/members/held"; then
  pass "members/held created by a background holder"
else
  fail "members/held did not appear within 5 s of starting its holder"
fi
kill -KILL "$holder"
wait "$holder" 2>/dev/null
if wait_for 5 test ! -e "$M/members/held"; then
  pass "members/held gone after kill -9 of its holder"
else
  fail "members/held still there 5 s after kill -9 of its holder: $(listing "$M/members")"
fi

# Files in an ordinary directory are not ephemeral.
echo stays >"$M/q-plain"
expect_content "$M/q-plain" stays
expect_eq "ephemeralOwner of a persistent file" 0 "$(xattr "$M/q-plain" user.zk.ephemeralOwner | sed 's/^0x0*$/0/')"

# --- both bits: ephemeral-sequential (the lock recipe)
expect_ok "mkdir -m 3755 '$M/election'"
exec 3>"$M/election/n-"
exec 4>"$M/election/n-"
expect_listing "$M/election" "n-0000000000 n-0000000001"
exec 3>&-
expect_gone_at_once "$M/election/n-0000000000"
expect_exists "$M/election/n-0000000001"
exec 4>&-
expect_gone_at_once "$M/election/n-0000000001"
expect_listing "$M/election" ""

finish
