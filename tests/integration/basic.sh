#!/usr/bin/env bash
# Files and directories behave as docs/guarantees.md §3 says: data round trip, overwrite, append,
# mkdir/rmdir/rm, ls, and the errors (ENOTDIR, ENOTEMPTY, ENOENT, EFBIG, ENAMETOOLONG), each
# leaving the tree as it was.
source "$(dirname "$0")/lib.sh"

must_start_node a
M=$(mnt_of a)
W=$M/basic
mkdir "$W" || fatal "mkdir $W failed"

# --- data round trip, overwrite, append
echo hello >"$W/f"
expect_content "$W/f" hello
echo bye >"$W/f"
expect_content "$W/f" bye
echo more >>"$W/f"
expect_content "$W/f" $'bye\nmore'
expect_eq "stat size = data length" 9 "$(stat -c %s "$W/f")"
expect_eq "stat type of a file" "regular file" "$(stat -c %F "$W/f")"
: >"$W/empty"
expect_eq "empty file size" 0 "$(stat -c %s "$W/empty")"
printf 'a\0b\377c' >"$W/binary"
expect_eq "binary data round trip" "61 00 62 ff 63" "$(od -An -tx1 "$W/binary" | xargs)"

# --- directories and listing
expect_ok "mkdir '$W/d'"
expect_eq "stat type of a directory" "directory" "$(stat -c %F "$W/d")"
echo x >"$W/d/one"
echo y >"$W/d/two"
expect_listing "$W/d" "one two"
expect_listing "$W" "binary d empty f"
expect_ok "mkdir -p '$W/p/q/r'"
expect_exists "$W/p/q/r"

# --- errors, each leaving nothing changed
expect_errno "echo x > '$W/f/child'" "Not a directory"
expect_errno "mkdir '$W/f/child'" "Not a directory"
expect_content "$W/f" $'bye\nmore'
expect_errno "rmdir '$W/d'" "Directory not empty"
expect_listing "$W/d" "one two"
expect_errno "cat '$W/nope'" "No such file or directory"
expect_errno "rm '$W/nope'" "No such file or directory"
expect_errno "rmdir '$W/nope'" "No such file or directory"
expect_errno "echo x > '$W/nope/f'" "No such file or directory"
expect_absent "$W/nope"
expect_errno "mkdir '$W/d'" "File exists"
expect_errno "rmdir '$W/f'" "Not a directory"
expect_errno "rm '$W/d'" "Is a directory"
expect_listing "$W" "binary d empty f p"

# EFBIG: more than 1 MiB fails at write or close, and the old content stays — through one
# descriptor, and through a shell redirection, whose O_TRUNC waits for its data (docs/guarantees.md
# §3): nothing of it is stored.
expect_errno "write_repeated_once '$W/f' a 1100000" "File too large"
expect_content "$W/f" $'bye\nmore'
expect_errno "head -c 1100000 /dev/zero > '$W/f'" "File too large"
expect_content "$W/f" $'bye\nmore'
expect_errno "head -c 1100000 /dev/zero > '$W/big'" "File too large"
if [[ -e $W/big ]]; then
  expect_eq "size of a file whose oversize first write failed" 0 "$(stat -c %s "$W/big")"
  rm -f "$W/big"
fi
# Exactly 1 MiB is still allowed (ZooKeeper's jute.maxbuffer default is the limit).
expect_ok "head -c 1048576 /dev/zero > '$W/mib'"
expect_eq "size of a 1 MiB file" 1048576 "$(stat -c %s "$W/mib")"
expect_eq "1 MiB file content" "$(head -c 1048576 /dev/zero | md5sum)" "$(md5sum <"$W/mib")"
rm -f "$W/mib"

# --- rm and rmdir
expect_ok "rm '$W/d/one' '$W/d/two'"
expect_listing "$W/d" ""
expect_ok "rmdir '$W/d'"
expect_absent "$W/d"
expect_ok "rm -r '$W/p'"
expect_absent "$W/p"

# --- names: 255 bytes fine, 256 refused; any byte but '/' and NUL
name255=$(printf 'n%.0s' {1..255})
name256=$(printf 'n%.0s' {1..256})
expect_ok "echo long > '$W/$name255'"
expect_content "$W/$name255" long
expect_errno "echo long > '$W/$name256'" "File name too long"
expect_errno "mkdir '$W/$name256'" "File name too long"
expect_listing "$W" "binary empty f $name255"
rm -f "$W/$name255"
odd=$'sp ace\tta\x01b\xff\xfe:*?'
if echo odd >"$W/$odd"; then pass "odd name"; else fail "could not create a file named $(printf %q "$odd")"; fi
expect_content "$W/$odd" odd
rm -f "$W/$odd"

# --- the system subtree is read-only (EPERM or EROFS; the log line says which this daemon gives)
readonly_errno="Operation not permitted|Read-only file system"
if [[ -d $M/zookeeper ]]; then
  before=$(listing "$M/zookeeper")
  expect_errno "echo x > '$M/zookeeper/mine'" "$readonly_errno"
  log "creating a file under /zookeeper said: $RUN_OUTPUT"
  expect_errno "mkdir '$M/zookeeper/mine'" "$readonly_errno"
  expect_errno "rmdir '$M/zookeeper'" "$readonly_errno"
  expect_errno "setfattr -n user.zk.data -v x '$M/zookeeper'" "$readonly_errno"
  echo z >"$W/z"
  expect_errno "perl -e 'rename(\$ARGV[0], \$ARGV[1]) or die \"rename: \$!\\n\"' '$W/z' '$M/zookeeper/z'" "$readonly_errno"
  expect_content "$W/z" z
  expect_listing "$M/zookeeper" "$before"
else
  fail "/zookeeper is missing from the mount root: $(listing "$M")"
fi

finish
