#!/usr/bin/env bash
# What one open file description sees and commits (docs/guarantees.md §3): every close commits, also
# one with only O_TRUNC pending; a commit follows a rename made while the descriptor was open;
# lseek(SEEK_END) after a write sees the descriptor's pending size (after an ftruncate that shrinks,
# the committed one: the kernel's size is every reader's on the host); the mount's size
# limit (--data-max-bytes) holds for writes and for user.zk.data, and a restart with another limit
# keeps what was stored; an ACL naming a supplementary group grants writes checked at commit; the
# host's budget of uncommitted bytes holds.
source "$(dirname "$0")/lib.sh"

must_start_node a --data-max-bytes 4096
M=$(mnt_of a)
W=$M/fd
mkdir "$W" || fatal "mkdir $W failed"

# --- a close with only O_TRUNC pending is durable when it returns
echo hello >"$W/t"
for i in $(seq 1 20); do
  echo hello >"$W/t"
  perl -e 'open(my $f, ">", $ARGV[0]) or die "$!"; close($f) or die "$!"' "$W/t"
  [[ $(stat -c %s "$W/t") == 0 ]] || fail "round $i: the truncation was not committed by the close"
done
pass "20 truncating closes committed before they returned"

# --- a commit follows a rename made while its descriptor was open
exec 3>"$W/before"
echo moved-data >&3
mv "$W/before" "$W/after"
if exec 3>&-; then pass "close after a rename succeeded"; else fail "close after a rename failed"; fi
expect_content "$W/after" "moved-data"
expect_absent "$W/before"

# --- the end of a descriptor with pending writes is its own where it grows (lseek SEEK_END); a
# pending shrink is not told to the kernel, whose size other readers here use (docs/mount.md)
sizes=$(perl -e '
  open(my $f, "+<", $ARGV[0]) or die "$!";
  truncate($f, 2) or die "$!"; my $a = sysseek($f, 0, 2); sysseek($f, 2, 0);
  syswrite($f, "0123456789X") == 11 or die "$!"; my $b = sysseek($f, 0, 2);
  close($f) or die "$!"; print "$a $b"' "$W/after")
expect_eq "end after ftruncate(2) of 11 committed bytes, then after 11 more bytes" "11 13" "$sizes"
expect_eq "committed size" 13 "$(stat -c %s "$W/after")"

# --- the mount's size limit, for content and for a directory's data
expect_errno "head -c 5000 /dev/zero | dd of='$W/after' conv=notrunc status=none" "File too large"
expect_content "$W/after" "mo0123456789X"
expect_errno "setfattr -n user.zk.data -v $(head -c 5000 /dev/zero | tr '\0' x) '$W'" "File too large"
setfattr -n user.zk.data -v small "$W" || fail "setfattr of 5 bytes"
head -c 4096 /dev/zero | tr '\0' y >"$W/full" || fail "a write of exactly the limit failed"

# --- a restart with a smaller limit keeps what was stored with the larger one
stop_node a || fail "clean stop"
must_start_node a --data-max-bytes 100
expect_eq "4096-byte file after a restart with a 100-byte limit" 4096 "$(stat -c %s "$W/full")"
expect_errno "head -c 200 /dev/zero > '$W/small'" "File too large"

# --- an ACL naming a supplementary group (the mode lets everyone; the ACL decides)
mkdir -m 0777 "$W/shared"
setfattr -n user.zk.acl -v 'gid:100:cdrwa,world:anyone:r' "$W/shared"
expect_errno "runuser -u nobody -- mkdir '$W/shared/without'" "Permission denied"
expect_ok "runuser -u nobody -G users -- mkdir '$W/shared/with'"
expect_ok "runuser -u nobody -G users -- sh -c 'echo by-group > $W/shared/file'"
expect_content "$W/shared/file" "by-group"
expect_errno "runuser -u nobody -- sh -c 'echo stranger > $W/shared/file'" "Permission denied"
expect_content "$W/shared/file" "by-group"

stop_node a || fail "clean stop"

# --- the host's budget for uncommitted writes (--buffered-bytes-max): a write past it fails with
# ENOSPC, that descriptor's close stores nothing, and the budget comes back with the commits.
must_start_node b --data-max-bytes 60000 --buffered-bytes-max 100000
B=$(mnt_of b)
# (one process holds both descriptors: a close by a child that inherited one would commit it)
run_shell "perl -e 'open(A, \">\", \$ARGV[0]) or die; syswrite(A, \"a\" x 60000) or die \"first: \$!\";
  open(B, \">\", \$ARGV[1]) or die; syswrite(B, \"b\" x 60000) and exit 4; print \"write: \$!\\n\";
  close(B) and exit 5; print \"close: \$!\\n\"; close(A) or die \"close A: \$!\"' '$B/first' '$B/second'"
expect_eq "the second descriptor's write and close" $'write: No space left on device\nclose: No space left on device' "$RUN_OUTPUT"
expect_eq "first file committed" 60000 "$(stat -c %s "$B/first")"
expect_eq "second file stored nothing" 0 "$(stat -c %s "$B/second")"
put "$B/second" "fits now" || fail "a write after the commits freed the budget"
expect_content "$B/second" "fits now"
stop_node b || fail "clean stop"
finish
