#!/usr/bin/env bash
# A file deleted while open stays readable and fstat-able through the descriptors opened before
# the delete, as on ext4; their pending writes fail their commit with ENOENT at close and the file
# does not come back (docs/guarantees.md §3; docs/mount.md, "Deleted while open"). Deleted by `rm`
# on this host, by `rm` on another host, by a `mv` over it, and by the close of the session that
# owned it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 2
start_members a b
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b)
W=$A/unlinked
mkdir "$W" || fatal "mkdir $W failed"

# held.pl PATH READY GO: opens PATH for reading and for appending, says so in READY, waits for GO
# (the delete happened), then prints what its descriptors see: fstat, read, write, close.
held=$TEST_TMP/held.pl
cat >"$held" <<'PERL'
my ($path, $ready, $go) = @ARGV;
open(my $r, "<", $path) or die "open $path: $!";
open(my $w, ">>", $path) or die "open $path for appending: $!";
open(my $f, ">", $ready) and close($f);
select(undef, undef, undef, 0.05) until -e $go;
my @st = stat($r);
print @st ? "fstat: size=$st[7] nlink=$st[3]\n" : "fstat: $!\n";
my $n = sysread($r, my $buffer, 4096);
print defined $n ? "read: $buffer" : "read: $!\n";
print defined syswrite($w, "more\n") ? "write: ok\n" : "write: $!\n";
print close($w) ? "close: ok\n" : "close: $!\n";
PERL

# --- rm on this host: `exec 3<f; rm f; cat <&3`, `stat -L /proc/self/fd/3`
echo "last data" >"$W/f"
exec 3<"$W/f"
rm "$W/f" || fail "rm f"
sleep 1.2  # past the attribute cache (1 s): the kernel asks the mount, not its own copy
expect_eq "stat -L /proc/self/fd/3 of a deleted file (size, links)" "10 0" "$(stat -L -c '%s %h' /proc/self/fd/3 2>&1)"
expect_eq "cat <&3 of a deleted file" "last data" "$(cat <&3 2>&1)"
exec 3<&-
expect_errno "cat '$W/f'" "No such file or directory"

# --- a writer opened before the rm: the write is taken, the close fails with ENOENT, the file
# does not come back (here or on the other host)
# held_run PATH DELETE_COMMAND...: runs held.pl on PATH around the delete; its lines in $HELD_SEEN.
HELD_SEEN=
held_run() {
  local path=$1 ready=$TEST_TMP/ready.$RANDOM go=$TEST_TMP/go.$RANDOM out=$TEST_TMP/held.$RANDOM
  shift
  perl "$held" "$path" "$ready" "$go" >"$out" 2>&1 &
  local pid=$!
  track_pid "$pid"
  wait_for 10 test -e "$ready" || fail "held.pl did not open $path: $(printable "$(cat "$out")")"
  "$@" || fail "delete command [$*] failed"
  touch "$go"
  wait "$pid"
  HELD_SEEN=$(printable "$(cat "$out")")
}
echo "last data" >"$W/g"
held_run "$W/g" rm "$W/g"
expect_eq "descriptors of a file removed on this host" \
  "fstat: size=10 nlink=0|read: last data|write: ok|close: No such file or directory" "$HELD_SEEN"
expect_absent "$W/g"
expect_eq "g on b after sync" "" "$(synced_content b unlinked/g)"
expect_absent "$B/unlinked/g"

# --- rm on the other host: b's descriptors, opened before, behave the same way
echo "remote data" >"$W/h"
wait_for 10 test -s "$B/unlinked/h" || fail "b never saw unlinked/h"
gone_on_b() { rm "$W/h" && wait_for 10 test ! -e "$B/unlinked/h"; }
held_run "$B/unlinked/h" gone_on_b
expect_eq "descriptors on b of a file removed on a" \
  "fstat: size=12 nlink=0|read: remote data|write: ok|close: No such file or directory" "$HELD_SEEN"
expect_errno "cat '$B/unlinked/h'" "No such file or directory"
expect_absent "$W/h"

# the shell's forms on b: `exec 3<f`, delete on a, `cat <&3`, `stat -L /proc/self/fd/3`
echo "seen from b" >"$W/k"
wait_for 10 test -s "$B/unlinked/k" || fail "b never saw unlinked/k"
exec 3<"$B/unlinked/k"
rm "$W/k"
wait_for 10 test ! -e "$B/unlinked/k" || fail "b still shows unlinked/k"
expect_eq "stat -L /proc/self/fd/3 on b (size, links)" "12 0" "$(stat -L -c '%s %h' /proc/self/fd/3 2>&1)"
expect_eq "cat <&3 on b" "seen from b" "$(cat <&3 2>&1)"
exec 3<&-

# --- a mv over an open file replaces (deletes) it: its descriptors keep the replaced data
echo "replaced" >"$W/r"
echo "replacement" >"$W/src"
exec 5<"$W/r"
mv "$W/src" "$W/r" || fail "mv src r"
expect_eq "cat <&5 after a mv over r" "replaced" "$(cat <&5 2>&1)"
exec 5<&-
expect_content "$W/r" "replacement"

# --- an ephemeral, deleted when the session that owns it closes: a reader on b keeps its data
mkdir -m 2777 "$W/members"
wait_for 10 test -d "$B/unlinked/members" || fail "b never saw members"
exec 6>"$W/members/e"
/bin/echo "ephemeral data" >&6  # the child's close of its copy commits; fd 6 keeps the node
wait_for 10 test -s "$B/unlinked/members/e" || fail "b never saw members/e"
exec 7<"$B/unlinked/members/e"
exec 6>&-
wait_for 10 test ! -e "$B/unlinked/members/e" || fail "members/e outlived its owner on b"
expect_eq "cat <&7 on b of an ephemeral whose owner closed" "ephemeral data" "$(cat <&7 2>&1)"
exec 7<&-

finish
