#!/usr/bin/env bash
# POSIX metadata beside the znode (docs/guarantees.md §3): owner, group, mode and times behave as on
# ext4, so chmod/chown/touch -d, cp -a, rsync -a, sed -i, tar x and make do what they do on a local
# disk.
source "$(dirname "$0")/lib.sh"

must_start_node a
M=$(mnt_of a)
W=$M/posix
mkdir "$W" || fatal "mkdir $W failed"

# --- chmod, chown, touch -d (to the nanosecond)
echo data >"$W/f"
expect_ok "chmod 640 '$W/f'"
expect_eq "mode after chmod 640" 640 "$(stat -c %a "$W/f")"
expect_ok "chmod u+x,o+r '$W/f'"
expect_eq "mode after chmod u+x,o+r" 744 "$(stat -c %a "$W/f")"
expect_ok "chown nobody:nogroup '$W/f'"
expect_eq "owner after chown" "nobody nogroup" "$(stat -c '%U %G' "$W/f")"
expect_ok "touch -d '2001-02-03 04:05:06.123456789 UTC' '$W/f'"
expect_eq "mtime seconds after touch -d" 981173106 "$(stat -c %Y "$W/f")"
expect_eq "mtime nanoseconds after touch -d" "2001-02-03 04:05:06.123456789 +0000" "$(TZ=UTC stat -c %y "$W/f")"
expect_ok "touch -a -d '2002-01-01 00:00:00 UTC' '$W/f'"
expect_eq "atime after touch -a -d" 1009843200 "$(stat -c %X "$W/f")"
expect_eq "mtime untouched by touch -a" 981173106 "$(stat -c %Y "$W/f")"
expect_content "$W/f" data
# ctime moves on a metadata change
ctime0=$(stat -c %Z "$W/f")
sleep 1.1
chmod 600 "$W/f"
ctime1=$(stat -c %Z "$W/f")
((ctime1 > ctime0)) && pass "ctime moved on chmod" || fail "ctime did not move on chmod: $ctime0 -> $ctime1"
# a write moves mtime
touch -d '2001-01-01 UTC' "$W/f"
echo newer >"$W/f"
(($(stat -c %Y "$W/f") > 981173106)) && pass "write moved mtime" || fail "write left mtime at $(stat -c %y "$W/f")"

# --- create takes the caller's uid/gid and umask
(umask 077 && echo secret >"$W/private")
expect_eq "mode of a file created under umask 077" 600 "$(stat -c %a "$W/private")"
(umask 027 && mkdir "$W/dir750")
expect_eq "mode of a dir created under umask 027" 750 "$(stat -c %a "$W/dir750")"
chmod 777 "$W"
runuser -u nobody -- sh -c "echo mine > '$W/bynobody'"
expect_eq "owner of a file nobody created" "nobody nogroup" "$(stat -c '%U %G' "$W/bynobody" 2>&1)"
# POSIX permission is checked by the kernel: nobody cannot read a 600 root file
expect_errno "runuser -u nobody -- cat '$W/private'" "Permission denied"
# a directory's mtime moves when an entry is created, removed or renamed in it
mkdir "$W/times"
for operation in "touch '$W/times/x'" "mv '$W/times/x' '$W/times/y'" "rm '$W/times/y'"; do
  touch -d '2000-01-01 UTC' "$W/times"
  run_shell "$operation"
  if (($(stat -c %Y "$W/times") > 946684800)); then
    pass "dir mtime moved on [$operation]"
  else
    fail "dir mtime did not move on [$operation]: $(stat -c %y "$W/times")"
  fi
done

# --- a small source tree on local disk to copy in
src=$TEST_TMP/src
mkdir -p "$src/sub/deeper"
echo alpha >"$src/alpha"
printf 'beta\n%.0s' {1..100} >"$src/sub/beta"
head -c 4000 /dev/urandom >"$src/sub/deeper/random.bin"
: >"$src/empty"
echo script >"$src/run.sh"
chmod 755 "$src/run.sh"
chmod 600 "$src/alpha"
chmod 700 "$src/sub/deeper"
chown nobody:nogroup "$src/sub/beta"
touch -d '2010-05-06 07:08:09.5 UTC' "$src/alpha" "$src/sub/beta" "$src/sub/deeper/random.bin"
touch -d '2011-01-01 UTC' "$src/sub/deeper" "$src/sub" "$src"

# tree_signature DIR: type, mode, owner, group, mtime (ns), size and content hash of every entry
tree_signature() {
  (
    cd "$1" || exit 1
    find . -printf '%p %y %m %u %g %T@\n' | sort
    find . -type f -print0 | sort -z | xargs -0 -r md5sum
  )
}
expected_signature=$(tree_signature "$src")
# expect_same_tree WHAT DIR: DIR's signature equals the source's; shows a diff when it does not.
expect_same_tree() {
  local seen
  seen=$(tree_signature "$2")
  if [[ $seen == "$expected_signature" ]]; then
    pass "$1"
  else
    fail "$1: differs from the source tree (< source, > copy):"
    diff <(echo "$expected_signature") <(echo "$seen") >&2
  fi
}

expect_ok "cp -a '$src' '$W/cp'"
expect_same_tree "cp -a keeps modes, owners, times and data" "$W/cp"

expect_ok "rsync -a '$src/' '$W/rsync/'"
expect_same_tree "rsync -a keeps modes, owners, times and data" "$W/rsync"
run_shell "rsync -ai '$src/' '$W/rsync/'"
expect_eq "a second rsync -a transfers nothing" "0 " "$RUN_STATUS $RUN_OUTPUT"

# pax format keeps nanosecond times (ustar keeps whole seconds)
tar --format=posix -C "$src" -cf "$TEST_TMP/src.tar" .
mkdir "$W/tar"
expect_ok "tar -C '$W/tar' -xpf '$TEST_TMP/src.tar'"
expect_same_tree "tar x keeps modes, owners, times and data" "$W/tar"

# --- sed -i (a temp file in the same directory renamed over the original)
printf 'one foo\ntwo foo\n' >"$W/edit"
chmod 640 "$W/edit"
expect_ok "sed -i 's/foo/bar/' '$W/edit'"
expect_content "$W/edit" $'one bar\ntwo bar'
expect_eq "sed -i keeps the mode" 640 "$(stat -c %a "$W/edit")"
expect_eq "sed -i leaves no temp file" "edit" "$(cd "$W" && ls -A | grep -E '^(sed|edit)' | tr '\n' ' ' | sed 's/ $//')"

# --- make: builds once, then has nothing to do
mkdir "$W/make"
printf 'hello\n' >"$W/make/in.txt"
printf 'out.txt: in.txt\n\ttr a-z A-Z < in.txt > out.txt\n' >"$W/make/Makefile"
expect_ok "make -C '$W/make'"
expect_content "$W/make/out.txt" HELLO
run_shell "make -C '$W/make'"
expect_match "second make does nothing" "up to date|Nothing to be done" "$RUN_OUTPUT"
expect_ok "make -q -C '$W/make'"
sleep 1.1
echo again >"$W/make/in.txt"
run_shell "make -q -C '$W/make'"
expect_eq "make -q sees a changed input" 1 "$RUN_STATUS"
expect_ok "make -C '$W/make'"
expect_content "$W/make/out.txt" AGAIN

# --- names and paths past the tree's limits (docs/mount.md, Limits): ENAMETOOLONG, nothing created.
# The kernel passes FUSE names of up to 1024 bytes and builds no path: the daemon refuses.
N=$W/names
mkdir "$N"
echo keep >"$N/keep"
name256=$(printf 'n%.0s' {1..256})
expect_errno "touch '$N/$name256'" "File name too long"
expect_errno "write_once '$N/$name256' x" "File name too long"
expect_errno "mkdir '$N/$name256'" "File name too long"
expect_errno "mv '$N/keep' '$N/$name256'" "File name too long"
expect_errno "stat '$N/$name256'" "File name too long"
expect_listing "$N" "keep"
expect_content "$N/keep" keep
# (the kernel looks a new name up before it creates it: the lookup is what is refused)
expect_match "the log names the reason" "lookup /posix/names/n+: File name too long \(name of 256 bytes; at most 255\)" \
  "$(grep -F 'lookup /posix/names/' "$(log_of a)")"
# A sequential create: the ten digits of the suffix take a 250-byte name past 255 bytes.
mkdir "$N/queue" && chmod 1755 "$N/queue"
expect_errno "touch '$N/queue/$(printf 'j%.0s' {1..250})'" "File name too long"
expect_ok "touch '$N/queue/$(printf 'j%.0s' {1..245})'"
expect_listing "$N/queue" "$(printf 'j%.0s' {1..245})0000000000"
# A path of more than 4095 bytes, made one relative mkdir at a time (each call's path is short):
# the last name that fits is created, one byte more is refused.
# deep_mkdir DIR COUNT NAME LAST: under DIR, COUNT nested directories named NAME, then mkdir LAST
# in the deepest; prints LAST's errno text (or "created") and what the deepest then lists.
deep_mkdir() {
  perl -e 'my ($dir, $count, $name, $last) = @ARGV;
    chdir $dir or die "chdir $dir: $!\n";
    for my $i (1 .. $count) { (mkdir($name) || -d $name) && chdir($name) or die "level $i: $!\n" }
    print mkdir($last) ? "created" : "$!";
    opendir(my $listing, ".") or die "opendir: $!\n";
    print " [", join(" ", sort grep { !/^\.\.?$/ } readdir($listing)), "]\n";' "$@"
}
mkdir "$N/long"
long_name=$(printf 'l%.0s' {1..255})
long_znode=/posix/names/long
prefix_bytes=$((${#long_znode} + 15 * (1 + ${#long_name})))
fits=$((4095 - prefix_bytes - 1))
expect_eq "the longest path that fits is created" "created [$(printf 'f%.0s' $(seq $fits))]" \
  "$(deep_mkdir "$N/long" 15 "$long_name" "$(printf 'f%.0s' $(seq $fits))" 2>&1)"
expect_eq "one byte more is refused, nothing created" "File name too long [$(printf 'f%.0s' $(seq $fits))]" \
  "$(deep_mkdir "$N/long" 15 "$long_name" "$(printf 'g%.0s' $(seq $((fits + 1))))" 2>&1)"
# Depth: /posix/names/depth is 3 names deep; 1021 more reach the limit of 1024, one more is refused.
mkdir "$N/depth"
expect_eq "a path of 1025 names is refused, nothing created" "File name too long []" \
  "$(deep_mkdir "$N/depth" 1021 d d 2>&1)"

finish
