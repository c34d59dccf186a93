#!/usr/bin/env bash
# What a shell user sees is atomic (docs/guarantees.md §3): `echo x > f` is ONE setData (one
# version, one MODIFY on another host); readers here and on another host never read the file empty
# while it is overwritten; `: > f` and `truncate -s0` still empty it before they return; a
# directory's st_nlink counts its subdirectories; a write or O_TRUNC by a non-super-user clears
# set-user-ID.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

ensemble_init 2
start_members a b
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a) B=$(mnt_of b)
W=$A/atomic
mkdir "$W" || fatal "mkdir $W failed"
chmod 777 "$W"

version() { xattr "$1" user.zk.version; }

# reader PATH STOP_FILE: reads PATH (open, read, close) until STOP_FILE exists; prints
# "READS EMPTY_READS".
reader=$TEST_TMP/reader.pl
cat >"$reader" <<'PERL'
my ($path, $stop) = @ARGV; my ($reads, $empty) = (0, 0);
until (-e $stop) {
  open(my $f, "<", $path) or die "open: $!"; my $n = sysread($f, my $buffer, 4096); close($f);
  $reads++; $empty++ if !$n;
}
print "$reads $empty\n";
PERL

# --- `echo x > f`: one version per redirection, here and as another host sees it. The watch is
# set before f exists, so that every event of f is counted whenever its echo runs: the first
# redirection creates f with its data in ONE txn (its echo raises CLOSE_WRITE, no MODIFY).
events=$TEST_TMP/events-b
inotifywait -m -q -e modify -e close_write --format '%e %f' "$B/atomic" >"$events" 2>/dev/null &
track_pid "$!"
sleep 0.5
echo first >"$W/f"
before=$(version "$W/f")
for i in $(seq 1 10); do echo "value $i" >"$W/f"; done
expect_eq "version after 10 redirections" "$((before + 10))" "$(version "$W/f")"
expect_content "$W/f" "value 10"
wait_for 10 lines_at_least 11 '^CLOSE_WRITE,CLOSE f$' "$events" || fail "b saw fewer than 11 closes: $(printable "$(cat "$events")")"
sleep 1
expect_eq "MODIFY events on b for 11 redirections on a (the first one creates)" 10 "$(grep -c '^MODIFY f$' "$events")"

# --- `: > f` and `truncate -s0 f` empty the file before they return, as a commit
for how in ": >" "truncate -s0"; do
  echo full >"$W/f"
  before=$(version "$W/f")
  if [[ $how == ":"* ]]; then : >"$W/f"; else truncate -s0 "$W/f"; fi
  expect_eq "size after [$how f]" 0 "$(stat -c %s "$W/f")"
  expect_eq "version after [$how f]" "$((before + 1))" "$(version "$W/f")"
  expect_eq "size after [$how f] on b after sync" "" "$(synced_content b atomic/f)"
done

# --- readers never see an overwritten file empty: on the writer's host (one descriptor: open
# with O_TRUNC, write, close), then on another host (shell redirections)
echo -n "initial" >"$W/g"
wait_for 10 test -s "$B/atomic/g" || fail "b never saw atomic/g"
perl "$reader" "$W/g" "$TEST_TMP/stop-a" >"$TEST_TMP/reads-a" &
reader_pid=$!
track_pid "$reader_pid"
for i in $(seq 1 200); do write_once "$W/g" "content $i" || fail "overwrite $i"; done
touch "$TEST_TMP/stop-a"
wait "$reader_pid"
read -r reads empty <"$TEST_TMP/reads-a"
log "writer's host: $reads reads during 200 overwrites, $empty empty"
expect_eq "empty reads on the writer's host during 200 overwrites ($reads reads)" 0 "$empty"
perl "$reader" "$B/atomic/g" "$TEST_TMP/stop-b" >"$TEST_TMP/reads-b" &
reader_pid=$!
track_pid "$reader_pid"
for i in $(seq 1 200); do echo "content $i" >"$W/g" || fail "redirection $i"; done
touch "$TEST_TMP/stop-b"
wait "$reader_pid"
read -r reads empty <"$TEST_TMP/reads-b"
log "another host: $reads reads during 200 redirections, $empty empty"
expect_eq "empty reads on another host during 200 redirections ($reads reads)" 0 "$empty"

# --- a directory's st_nlink is 2 plus its subdirectories
mkdir "$W/d" "$W/d/x" "$W/d/y"
touch "$W/d/file"
expect_eq "nlink of a directory with 2 subdirectories" 4 "$(stat -c %h "$W/d")"
rmdir "$W/d/x"
expect_eq "nlink after one rmdir" 3 "$(stat -c %h "$W/d")"
expect_eq "nlink on b after sync" 3 "$(sync "$B/atomic" && stat -c %h "$B/atomic/d")"

# --- set-user-ID: kept by create, cleared by a write or an O_TRUNC open of anyone but root
perl -e 'sysopen(my $f, $ARGV[0], 0101, 04755) or die "$!"; close($f) or die "$!"' "$W/created"
expect_eq "mode of open(O_CREAT, 04755)" 4755 "$(stat -c %a "$W/created")"
echo x >"$W/s"
chmod 04777 "$W/s"
echo root >>"$W/s"
expect_eq "mode after a write by root" 4777 "$(stat -c %a "$W/s")"
runuser -u nobody -- perl -e 'open(my $f, ">>", $ARGV[0]) or die "$!"; print $f "y"; close($f) or die "$!"' "$W/s"
expect_eq "mode after an append by nobody" 777 "$(stat -c %a "$W/s")"
chmod 06777 "$W/s"
runuser -u nobody -- sh -c "echo z > '$W/s'"
expect_eq "mode after an O_TRUNC redirection by nobody" 777 "$(stat -c %a "$W/s")"
expect_content "$W/s" "z"

finish
