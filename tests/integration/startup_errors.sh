#!/usr/bin/env bash
# Bad input at startup gives a clear error and changes nothing (docs/guarantees.md §8): a corrupt
# byte in the middle of the txn log stops the restart with a message naming the file and offset, the
# process exits non-zero and nothing is mounted; --help lists the options; a missing mountpoint is
# reported.
source "$(dirname "$0")/lib.sh"

# try_start NAME ARGS...: runs the daemon in the background and waits (<= 15 s) until it exits or
# mounts $(mnt_of NAME). Sets TRY_RESULT to "exited STATUS" or "mounted" or "hung", TRY_OUTPUT.
try_start() {
  local name=$1
  shift
  local mountpoint output_file=$TEST_TMP/$name.try.out
  mountpoint=$(mnt_of "$name")
  grep -qxF "$mountpoint" "$MOUNTS_FILE" || echo "$mountpoint" >>"$MOUNTS_FILE"
  "$QUORUMFS_BIN" "$@" >"$output_file" 2>&1 &
  local pid=$!
  track_pid "$pid"
  local deadline=$((SECONDS + 15))
  TRY_RESULT=hung
  while ((SECONDS < deadline)); do
    if [[ -d $mountpoint ]] && mountpoint -q "$mountpoint"; then
      TRY_RESULT=mounted
      NODE_PID[$name]=$pid
      break
    fi
    if wait_pid_exit "$pid" 0; then
      TRY_RESULT="exited $WAITED_STATUS"
      break
    fi
    sleep 0.05
  done
  TRY_OUTPUT=$(cat "$output_file")
  if [[ $TRY_RESULT == hung ]]; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
}

# --- --help
run_shell "'$QUORUMFS_BIN' --help"
expect_eq "--help exit status" 0 "$RUN_STATUS"
expect_match "--help lists --data" "--data" "$RUN_OUTPUT"
log "--help says: $(printable "$RUN_OUTPUT")"

# --- unknown option
run_shell "'$QUORUMFS_BIN' --no-such-option"
if ((RUN_STATUS != 0 && RUN_STATUS != 124)); then
  pass "unknown option refused"
else
  fail "'quorumfs --no-such-option': expected a non-zero exit, got $RUN_STATUS: $(printable "$RUN_OUTPUT")"
fi

# --- a data limit above what one txn can carry (a log record is at most 64 MiB)
run_shell "'$QUORUMFS_BIN' --data '$TEST_TMP/big' --data-max-bytes 67108864 '$TEST_TMP'"
expect_match "--data-max-bytes of 64 MiB refused" "data-max-bytes" "$RUN_OUTPUT"
if ((RUN_STATUS != 0 && RUN_STATUS != 124)); then pass "it exits non-zero"; else fail "exit status $RUN_STATUS"; fi
expect_absent "$TEST_TMP/big"

# --- a missing mountpoint
mkdir -p "$TEST_TMP/missing"
try_start missing --data "$TEST_TMP/missing/data" "$TEST_TMP/missing/mnt"
if [[ $TRY_RESULT == exited* && $TRY_RESULT != "exited 0" ]]; then
  pass "missing mountpoint refused ($TRY_RESULT)"
else
  fail "missing mountpoint $TEST_TMP/missing/mnt: expected a non-zero exit, got: $TRY_RESULT"
fi
expect_match "the error names the missing mountpoint" "missing/mnt" "$TRY_OUTPUT"
log "missing mountpoint says: $(printable "$TRY_OUTPUT")"
if [[ $TRY_RESULT == mounted ]]; then stop_node missing; fi

# --- a mountpoint that is a file
mkdir -p "$TEST_TMP/notdir"
: >"$TEST_TMP/notdir/mnt"
try_start notdir --data "$TEST_TMP/notdir/data" "$TEST_TMP/notdir/mnt"
if [[ $TRY_RESULT == exited* && $TRY_RESULT != "exited 0" ]]; then
  pass "file as mountpoint refused ($TRY_RESULT)"
else
  fail "a regular file as mountpoint: expected a non-zero exit, got: $TRY_RESULT"
fi
log "file as mountpoint says: $(printable "$TRY_OUTPUT")"

# --- a corrupt txn log
must_start_node a
M=$(mnt_of a)
mkdir "$M/many"
for i in $(seq 1 400); do
  put "$M/many/f$i" "value $i $(printf 'x%.0s' {1..64})" || fail "write of many/f$i failed"
done
stop_node a || fail "daemon did not stop cleanly before the corruption"

D=$(data_of a)
log_file=$(find "$D" -type f -name 'log.*' -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
if [[ -z $log_file ]]; then
  fail "no txn log segment (log.<16 hex>) under the data dir; it holds: $(cd "$D" && find . -type f | head -20 | tr '\n' ' ')"
  finish
fi
expect_match "log segment name" '/log\.[0-9a-fA-F]{16}$' "$log_file"
size=$(stat -c %s "$log_file")
# Segments may be preallocated (zero-filled): aim at the middle of the records actually written.
used=$(perl -e 'open(my $f, "<", $ARGV[0]) or die; binmode $f; local $/; my $d = <$f>;
  my $end = length $d; my $zeros = "\0" x 4096;
  $end -= 4096 while $end >= 4096 && substr($d, $end - 4096, 4096) eq $zeros;
  $end-- while $end > 0 && substr($d, $end - 1, 1) eq "\0"; print $end' "$log_file")
offset=$((used / 2))
byte=$(od -An -tu1 -j "$offset" -N 1 "$log_file" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0xff)))" | dd of="$log_file" bs=1 seek="$offset" conv=notrunc status=none
log "flipped the byte at offset $offset of $log_file ($size bytes, $used in use): $byte -> $((byte ^ 0xff))"
checksum_before=$(md5sum <"$log_file")

try_start a --data "$D" "$M"
if [[ $TRY_RESULT == mounted ]]; then
  fail "the daemon started on a txn log corrupted at offset $offset of $log_file" \
    "(files back: $(ls "$M/many" 2>/dev/null | wc -l) of 400)"
  stop_node a
elif [[ $TRY_RESULT == hung ]]; then
  fail "the daemon neither mounted nor exited within 15 s on a corrupt log; output: $(printable "$TRY_OUTPUT")"
else
  expect_match "exit status on a corrupt log is non-zero" '^exited [1-9][0-9]*$' "$TRY_RESULT"
  expect_match "the error names the log file" "$(basename "$log_file")" "$TRY_OUTPUT"
  expect_match "the error gives an offset" '[Oo]ffset[^0-9]*[0-9]+' "$TRY_OUTPUT"
fi
log "restart on a corrupt log said: $(printable "$TRY_OUTPUT")"
if is_mounted "$M"; then fail "$M is mounted after a refused start"; else pass "nothing mounted after a refused start"; fi
expect_eq "the corrupt log is left as it was" "$checksum_before" "$(md5sum <"$log_file")"

# --- a data dir already used by a running daemon
must_start_node b
echo before >"$(mnt_of b)/kept"
mkdir -p "$TEST_TMP/b2/mnt"
try_start b2 --data "$(data_of b)" "$TEST_TMP/b2/mnt"
expect_match "second daemon on a data dir in use exits non-zero" '^exited [1-9][0-9]*$' "$TRY_RESULT"
expect_match "the error says the data dir is in use" 'in use' "$TRY_OUTPUT"
expect_content "$(mnt_of b)/kept" "before"
echo after >"$(mnt_of b)/kept" || fail "the first daemon stopped taking writes"
expect_content "$(mnt_of b)/kept" "after"
stop_node b || fail "daemon b did not stop cleanly"

# --- a corrupt snapshot
must_start_node c --snapshot-every 20
for i in $(seq 1 60); do put "$(mnt_of c)/s$i" "v$i" || fail "write s$i"; done
stop_node c || fail "daemon c did not stop cleanly"
snapshot=$(find "$(data_of c)" -maxdepth 1 -name 'snapshot.*' ! -name '*.tmp' | sort | tail -n 1)
[[ -n $snapshot ]] || fatal "no snapshot was written with --snapshot-every 20"
offset=$(($(stat -c %s "$snapshot") / 2))
byte=$(od -An -tu1 -j "$offset" -N 1 "$snapshot" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0xff)))" | dd of="$snapshot" bs=1 seek="$offset" conv=notrunc status=none
checksum_before=$(md5sum <"$snapshot")
try_start c --data "$(data_of c)" "$(mnt_of c)"
if [[ $TRY_RESULT == mounted ]]; then
  fail "the daemon started on a snapshot corrupted at offset $offset"
  stop_node c
else
  expect_match "exit status on a corrupt snapshot is non-zero" '^exited [1-9][0-9]*$' "$TRY_RESULT"
  expect_match "the error names the snapshot" "$(basename "$snapshot")" "$TRY_OUTPUT"
  expect_match "the error gives an offset" '[Oo]ffset[^0-9]*[0-9]+' "$TRY_OUTPUT"
fi
log "restart on a corrupt snapshot said: $(printable "$TRY_OUTPUT")"
expect_eq "the corrupt snapshot is left as it was" "$checksum_before" "$(md5sum <"$snapshot")"

# --- a zoo.cfg-style configuration file
mkdir -p "$(mnt_of cfg)" "$(data_of cfg)"
cfg=$TEST_TMP/zoo.cfg
printf 'tickTime=500\ndataDir=%s\nserver.1=127.0.0.1:2888:3888\nmountPoint=%s\nglobalOutstandingLimit=1000\n' \
  "$(data_of cfg)" "$(mnt_of cfg)" >"$cfg"
try_start cfg --config "$cfg"
expect_eq "a one-member config mounts" mounted "$TRY_RESULT"
expect_match "an unknown key is warned about with its line" "zoo.cfg:5: unknown key globalOutstandingLimit" "$TRY_OUTPUT"
if [[ $TRY_RESULT == mounted ]]; then
  echo via-config >"$(mnt_of cfg)/f" && expect_content "$(mnt_of cfg)/f" via-config
  stop_node cfg || fail "config node did not stop cleanly"
fi
printf 'dataDir=%s\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\npeerSecretFile=%s\n' \
  "$(data_of cfg)" "$TEST_TMP/no-such-secret" >"$cfg"
echo 1 >"$(data_of cfg)/myid"
try_start cfg --config "$cfg" "$(mnt_of cfg)"
expect_match "an unreadable peerSecretFile is refused" '^exited [1-9]' "$TRY_RESULT"
expect_match "the refusal names the secret file" "peerSecretFile .*no-such-secret: cannot read it" "$TRY_OUTPUT"
printf 'dataDir=%s\nsyncLimit=-3\nserver.1=127.0.0.1:2888:3888\n' "$(data_of cfg)" >"$cfg"
try_start cfg --config "$cfg" "$(mnt_of cfg)"
expect_match "a bad value is refused" '^exited [1-9]' "$TRY_RESULT"
expect_match "the refusal names the file and line" "zoo.cfg:2: syncLimit must be a positive tick count" "$TRY_OUTPUT"
if is_mounted "$(mnt_of cfg)"; then fail "mounted after a refused config"; else pass "nothing mounted after a refused config"; fi

finish
