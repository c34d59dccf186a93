#!/usr/bin/env bash
# The admin HTTP endpoint (docs/operations.md, "Admin endpoint and metrics") on a three-member
# ensemble on 127.0.0.1, each member with its own admin port: ZooKeeper's AdminServer commands as
# JSON (ruok, srvr, stat, mntr, conf, cons, wchs, leader, voting_view) with the right roles and
# counts, errors as JSON (404, 405, 431), a member whose admin port is taken that serves everything
# else, the member still fine after every bad request; /metrics in Prometheus's text format; and
# the web view at /, loaded in headless Chromium, showing the tree and the members.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ensemble_lib.sh"

# scripts/setup.sh installs curl and jq: a missing one fails the test.
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$TEST_NAME: FAIL: needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done

admin_port_of() { echo $((ENSEMBLE_BASE_PORT + 70 + ${MEMBER_ID[$1]})); }
url_of() { echo "http://127.0.0.1:$(admin_port_of "$1")"; }

# get NAME PATH: the body (curl fails on no answer, not on an HTTP error status).
get() { curl -s --max-time 10 "$(url_of "$1")$2"; }
# status NAME PATH [CURL_ARGS...]: the HTTP status code only.
status() {
  local name=$1 path=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$(url_of "$name")$path"
}
# field NAME COMMAND JQ_FILTER: one value of a command's JSON.
field() { get "$1" "/commands/$2" | jq -r "$3"; }
# metric NAME SERIES: one sample of NAME's /metrics, by its whole series name (with its labels).
metric() { get "$1" /metrics | awk -v series="$2" '$1 == series { print $2 }'; }

ensemble_init 3
for name in a b c; do
  printf 'admin.serverAddress=127.0.0.1\nadmin.serverPort=%s\n' "$(admin_port_of "$name")" >>"$TEST_TMP/$name.cfg"
done
start_members a b c
wait_writable a 20 || fatal "no leader within 20 s"
A=$(mnt_of a)
leader=$(leader_name)
[[ -n $leader ]] || fatal "no member says it leads"
log "leader: $leader"

# --- every command answers on every member, as ZooKeeper's JSON
for name in a b c; do
  expect_eq "ruok on $name" '{"command":"ruok","error":null}' "$(get "$name" /commands/ruok)"
  for command in srvr stat mntr conf cons wchs leader voting_view; do
    expect_eq "$command on $name: command and no error" "$command null" \
      "$(get "$name" "/commands/$command" | jq -r '"\(.command) \(.error)"')"
  done
done
expect_eq "command list" "ruok srvr stat mntr conf cons wchs leader voting_view" \
  "$(get a /commands | jq -r '.commands | join(" ")')"

# --- roles: one leader, named the same by every member
for name in a b c; do
  expected_mode=follower
  [[ $name == "$leader" ]] && expected_mode=leader
  expect_eq "$name's server_state" "$expected_mode" "$(field "$name" mntr .server_state)"
  expect_eq "$name's srvr server_state" "$expected_mode" "$(field "$name" srvr .server_stats.server_state)"
  expect_eq "$name is_leader" "$([[ $name == "$leader" ]] && echo true || echo false)" "$(field "$name" leader .is_leader)"
  expect_eq "$name's leader_id" "${MEMBER_ID[$leader]}" "$(field "$name" leader .leader_id)"
  expect_eq "$name's conf server_id" "${MEMBER_ID[$name]}" "$(field "$name" conf .server_id)"
  expect_eq "$name's conf tick_time" 50 "$(field "$name" conf .tick_time)"
done
expect_eq "voting_view current_config" "3" "$(field a voting_view '.current_config | length')"
expect_eq "voting_view's entry for server 2" "127.0.0.1:$((ENSEMBLE_BASE_PORT + 2)):$((ENSEMBLE_BASE_PORT + 52)):participant" \
  "$(field a voting_view '.current_config["2"]')"
# The leader knows each follower's acked zxid and lag (a follower is in sync: a small lag).
expect_eq "leader's view of the roles" "follower follower leader" \
  "$(field "$leader" voting_view '[.members[].role] | sort | join(" ")')"
expect_eq "leader's view: a lag for each follower" "2" \
  "$(field "$leader" voting_view '[.members[] | select(.role == "follower") | select(.lag_txns != null and .lag_txns < 1000)] | length')"
expect_match "leader's view: acked zxids" '^0x[0-9a-f]+ 0x[0-9a-f]+$' \
  "$(field "$leader" voting_view '[.members[] | select(.role == "follower") | .acked_zxid] | join(" ")')"
expect_eq "leader's mntr: synced followers" 2 "$(field "$leader" mntr .synced_followers)"
follower=a
[[ $leader == a ]] && follower=b
expect_eq "a follower's view names the leader" "leader" \
  "$(field "$follower" voting_view ".members[] | select(.id == ${MEMBER_ID[$leader]}) | .role")"

# --- counts follow the tree: files created through a's mount, seen on c
before=$(field c mntr .znode_count)
bytes_before=$(metric c quorumfs_znode_data_bytes)
mkdir "$A/admin-dir" && for i in 1 2 3 4; do put "$A/admin-dir/f$i" "data $i"; done
sync "$(mnt_of c)"
expect_eq "c's znode_count after 5 creates on a" "$((before + 5))" "$(field c mntr .znode_count)"
expect_eq "c's srvr node_count" "$((before + 5))" "$(field c srvr .node_count)"
expect_eq "c's metric quorumfs_znodes" "$((before + 5))" "$(metric c quorumfs_znodes)"
expect_eq "c's metric quorumfs_znode_data_bytes: 4 files of 6 bytes more" "$((bytes_before + 24))" \
  "$(metric c quorumfs_znode_data_bytes)"

# --- /metrics: Prometheus's text format, with the families docs/operations.md lists
metrics=$(get "$leader" /metrics)
expect_eq "metrics' content type" "text/plain; version=0.0.4; charset=utf-8" \
  "$(curl -s -o /dev/null -w '%{content_type}' "$(url_of "$leader")/metrics")"
for family in quorumfs_write_latency_seconds:histogram quorumfs_mount_read_latency_seconds:histogram \
  quorumfs_log_sync_seconds:histogram quorumfs_pending_writes:gauge \
  quorumfs_log_appends_waiting:gauge quorumfs_echo_backlog_changes:gauge \
  quorumfs_zk_outstanding_requests:gauge quorumfs_zk_writes_held:gauge quorumfs_zk_write_holds_total:counter \
  quorumfs_commit_lag_txns:gauge \
  quorumfs_apply_lag_txns:gauge quorumfs_follower_lag_txns:gauge quorumfs_sessions:gauge \
  quorumfs_watches:gauge quorumfs_znodes:gauge quorumfs_znode_data_bytes:gauge \
  quorumfs_elections_total:counter quorumfs_election_seconds:histogram quorumfs_server_state:gauge; do
  name=${family%%:*} type=${family#*:}
  expect_eq "metrics: HELP then TYPE of $name" "# TYPE $name $type" \
    "$(grep -A1 "^# HELP $name [^ ]" <<<"$metrics" | tail -n 1)"
done
# Every sample line is NAME{LABELS} VALUE; every name has its TYPE.
expect_eq "metrics: malformed lines" "" "$(grep -v '^#' <<<"$metrics" |
  grep -vE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [-+]?([0-9.e+-]+|Inf|NaN)$')"
expect_eq "metrics: the leader's state" 1 "$(metric "$leader" 'quorumfs_server_state{state="leader"}')"
expect_eq "metrics: a follower's state" 1 "$(metric "$follower" 'quorumfs_server_state{state="follower"}')"
expect_eq "metrics: the leader's two followers' lag" 2 \
  "$(grep -c '^quorumfs_follower_lag_txns{server="[0-9]"} [0-9]' <<<"$metrics")"
expect_match "a's creates are timed (mkdir and 4 files, at least)" '^([5-9]|[1-9][0-9]+)$' \
  "$(metric a 'quorumfs_write_latency_seconds_count{txn="create"}')"
expect_match "a's log syncs are timed" '^[1-9][0-9]*$' "$(metric a quorumfs_log_sync_seconds_count)"
expect_match "a's mount lookups are timed" '^[1-9][0-9]*$' \
  "$(metric a 'quorumfs_mount_read_latency_seconds_count{op="lookup"}')"
expect_match "an election counted on b" '^[1-9][0-9]*$' "$(metric b quorumfs_elections_total)"
expect_eq "elections timed as counted on b" "$(metric b quorumfs_elections_total)" \
  "$(metric b quorumfs_election_seconds_count)"

expect_eq "no client port: no connections, no watches" "0 0" \
  "$(field a cons '.connections | length') $(field a wchs .num_total_watches)"
expect_eq "stat: connections listed" "array" "$(field a stat '.connections | type')"

# --- errors are JSON, and refused requests change nothing
expect_eq "unknown command: 404" 404 "$(status a /commands/nosuch)"
expect_eq "unknown command's error" "Unknown command: nosuch" "$(get a /commands/nosuch | jq -r .error)"
expect_eq "unknown page: 404" 404 "$(status a /nosuch)"
expect_eq "POST: 405" 405 "$(status a /commands/ruok -X POST)"
expect_eq "DELETE: 405" 405 "$(status a /commands/ruok -X DELETE)"
expect_eq "HEAD: 200" 200 "$(status a /commands/ruok -I)"
expect_eq "a header over 8 KiB: 431" 431 "$(status a /commands/ruok -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)")"
expect_eq "a request body: 413" 413 "$(status a /commands/ruok --data-binary hello -X GET)"
expect_eq "a target over 2 KiB: 414" 414 "$(status a "/commands/$(head -c 3000 /dev/zero | tr '\0' a)")"
expect_eq "garbage instead of HTTP: 400" "HTTP/1.1 400 Bad Request" \
  "$(printf 'NOT HTTP\x01\r\n\r\n' | timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(admin_port_of a); cat >&3; head -n 1 <&3" | tr -d '\r')"
expect_eq "a still answers after the bad requests" '{"command":"ruok","error":null}' "$(get a /commands/ruok)"
put "$A/after-bad-requests" ok || fail "a takes no writes after the bad requests"
expect_eq "b reads the write made after the bad requests" ok "$(synced_content b after-bad-requests)"
expect_eq "a's daemon still runs" 0 "$(kill -0 "$(pid_of a)" 2>/dev/null; echo $?)"

# --- the web view, loaded in a headless browser: the tree's entries and the ensemble's members
CHROMIUM=$(command -v chromium || true)
# scripts/test.sh installs chromium (a test-only package): without it this test fails, never skips.
if [[ -z $CHROMIUM ]]; then
  fail "needs chromium for the web view (scripts/test.sh installs it: apt-get install chromium)"
else
  # dump_dom NAME FRAGMENT: the page's DOM once its scripts ran (virtual time lets the fetches finish).
  dump_dom() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$TEST_TMP/chromium" \
      --virtual-time-budget=10000 --dump-dom "$(url_of "$1")/$2" 2>"$TEST_TMP/chromium.err"
  }
  expect_eq "/ is the web view" "text/html; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' "$(url_of "$leader")/")"
  dom=$(dump_dom "$leader" "#/admin-dir")
  [[ -n $dom ]] || log "chromium said: $(tail -n 5 "$TEST_TMP/chromium.err" | tr '\n' '|')"
  expect_match "web view: the path shown" '<span id="path">/admin-dir</span>' "$dom"
  for file in f1 f2 f3 f4; do
    expect_match "web view: the tree lists $file" "<a href=\"#/admin-dir/$file\">$file</a>" "$dom"
  done
  expect_eq "web view: three members" 3 "$(grep -o '<tr class="member' <<<"$dom" | wc -l)"
  expect_eq "web view: the leader's roles" "1 2" \
    "$(grep -o '<td>leader</td>' <<<"$dom" | wc -l) $(grep -o '<td>follower</td>' <<<"$dom" | wc -l)"
  expect_match "web view: this member's state in the title" "<span id=\"member\">\\(leader\\)</span>" "$dom"
  # A file's data, and a node nobody else may read: refused, its data not shown.
  dom=$(dump_dom "$leader" "#/admin-dir/f2")
  expect_match "web view: a file's data" '<pre id="node-data">data 2</pre>' "$dom"
  printf 'secret' >"$A/private" && chmod 600 "$A/private"
  sync "$(mnt_of "$leader")"
  dom=$(dump_dom "$leader" "#/private")
  expect_match "web view: a node others may not read is refused" 'id="tree-error" class="error">/private is not readable by everyone' "$dom"
  [[ $dom == *secret\<* ]] && fail "web view showed a private file's data"
fi

# --- a member whose admin port is taken logs one line and serves everything else
start_node s --admin-port "$(admin_port_of a)" --admin-address 127.0.0.1 ||
  fail "standalone s did not start with a's admin port taken"
expect_true "s: admin port taken is logged" grep -q "admin endpoint 127.0.0.1:$(admin_port_of a): .*not served" "$(log_of s)"
put "$(mnt_of s)/f" x || fail "s's mount takes no write"
expect_content "$(mnt_of s)/f" x
expect_eq "a's endpoint is still a's" "${MEMBER_ID[a]}" "$(field a conf .server_id)"
stop_node s || fail "s did not stop cleanly"

# --- --no-admin: no listener
start_node t --no-admin || fail "standalone t did not start with --no-admin"
expect_true "t: nothing about an admin endpoint in its log" bash -c "! grep -q 'admin endpoint' '$(log_of t)'"
stop_node t || fail "t did not stop cleanly"

finish
