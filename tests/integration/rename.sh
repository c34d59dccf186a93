#!/usr/bin/env bash
# rename(2) is one atomic transaction (docs/guarantees.md §3): mv of a file, over an existing
# target, racing mvs of one source (exactly one wins, the other gets ENOENT); a non-empty directory
# answers EXDEV so mv copies; links, symlinks, fifos and device nodes are refused with nothing
# created.
source "$(dirname "$0")/lib.sh"

must_start_node a
M=$(mnt_of a)
W=$M/rename
mkdir "$W" || fatal "mkdir $W failed"

# rename(2) itself, to see the errno without mv's fallbacks.
rename_syscall() { perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\n"' "$@"; }
export -f rename_syscall

# --- mv of a file
echo one >"$W/a"
expect_ok "mv '$W/a' '$W/b'"
expect_absent "$W/a"
expect_content "$W/b" one
# into another directory
mkdir "$W/sub"
expect_ok "mv '$W/b' '$W/sub/b'"
expect_absent "$W/b"
expect_content "$W/sub/b" one
# over an existing target: the target takes the source's data at once
echo new >"$W/src"
echo old >"$W/dst"
expect_ok "mv '$W/src' '$W/dst'"
expect_absent "$W/src"
expect_content "$W/dst" new
expect_listing "$W" "dst sub"
# the source keeps its stat identity (czxid) only if ZooKeeper semantics say so; data must move
expect_ok "rename_syscall '$W/dst' '$W/dst2'"
expect_content "$W/dst2" new
# a missing source
expect_errno "rename_syscall '$W/nope' '$W/x'" "No such file or directory"
expect_absent "$W/x"
# a file over a directory / a directory over a file: POSIX errors, nothing moves
mkdir "$W/emptydir"
expect_errno "rename_syscall '$W/dst2' '$W/emptydir'" "Is a directory"
expect_errno "rename_syscall '$W/emptydir' '$W/dst2'" "Not a directory"
expect_content "$W/dst2" new
expect_exists "$W/emptydir"

# --- an empty directory renames atomically
expect_ok "rename_syscall '$W/emptydir' '$W/emptydir2'"
expect_absent "$W/emptydir"
expect_eq "renamed empty dir is a directory" directory "$(stat -c %F "$W/emptydir2" 2>&1)"

# --- racing mv: exactly one wins, the other sees ENOENT, nothing is lost or duplicated
mkdir "$W/race"
rounds=20
for round in $(seq 1 $rounds); do
  echo "payload $round" >"$W/race/s"
  mv "$W/race/s" "$W/race/t1" 2>"$TEST_TMP/mv1.err" &
  first=$!
  mv "$W/race/s" "$W/race/t2" 2>"$TEST_TMP/mv2.err" &
  second=$!
  wait "$first"
  status1=$?
  wait "$second"
  status2=$?
  targets=$(ls -A "$W/race" | tr '\n' ' ')
  winners=$(( (status1 == 0) + (status2 == 0) ))
  errors="$(cat "$TEST_TMP/mv1.err" "$TEST_TMP/mv2.err")"
  if ((winners == 1)) && [[ $targets == "t1 " || $targets == "t2 " ]] &&
    [[ $errors == *"No such file or directory"* ]] &&
    [[ $(cat "$W/race/${targets% }") == "payload $round" ]]; then
    pass "race round $round"
  else
    fail "race round $round: expected one mv to win and the other to get ENOENT, leaving t1 or t2 alone" \
      "with 'payload $round'; mv statuses $status1 $status2, dir holds [$targets], errors [$(printable "$errors")]"
  fi
  rm -f "$W/race/t1" "$W/race/t2"
done

# --- a non-empty directory: rename(2) says EXDEV, mv falls back to copy + remove
mkdir -p "$W/tree/inner"
echo leaf >"$W/tree/inner/leaf"
echo top >"$W/tree/top"
expect_errno "rename_syscall '$W/tree' '$W/tree2'" "Invalid cross-device link"
expect_exists "$W/tree/inner/leaf"
expect_absent "$W/tree2"
expect_ok "mv '$W/tree' '$W/moved'"
expect_absent "$W/tree"
expect_content "$W/moved/inner/leaf" leaf
expect_content "$W/moved/top" top

# --- hard links, symlinks, fifos, device nodes: refused, nothing created
refused="Operation not permitted|Operation not supported"
echo target >"$W/target"
before=$(listing "$W")
expect_errno "ln '$W/target' '$W/hard'" "$refused"
log "ln said: $RUN_OUTPUT"
expect_errno "ln -s target '$W/soft'" "$refused"
log "ln -s said: $RUN_OUTPUT"
expect_errno "mkfifo '$W/fifo'" "$refused"
log "mkfifo said: $RUN_OUTPUT"
expect_errno "mknod '$W/null' c 1 3" "$refused"
expect_errno "mknod '$W/pipe' p" "$refused"
expect_errno "perl -MSocket -e 'socket(my \$s, PF_UNIX, SOCK_STREAM, 0); bind(\$s, pack_sockaddr_un(\$ARGV[0])) or die \"bind: \$!\\n\"' '$W/sock'" "$refused"
for name in hard soft fifo null pipe sock; do
  if [[ -e $W/$name || -L $W/$name ]]; then fail "$name exists after a refused create"; else pass "$name not created"; fi
done
expect_listing "$W" "$before"
expect_content "$W/target" target
expect_eq "link count of the target" 1 "$(stat -c %h "$W/target")"

finish
