# Helpers for tests that run an ensemble on 127.0.0.1: source after lib.sh.
#
#   ensemble_init 3 1          # three participants (a b c) and one observer (o)
#   start_members a b c o      # each mounted at $(mnt_of NAME)
#   wait_writable a 20         # a write through a's mount commits
#   leader=$(leader_name)      # the member whose log last said "now leading"
#
# Every member's config is $TEST_TMP/NAME.cfg; ports are picked at random in 20000..31999, the
# peer port of member N at BASE+N. The shared secret is in $TEST_TMP/secret.
#
# ZooKeeper's client port (clientPort in zoo.cfg): set ZK_CLIENT_PORTS=1 before ensemble_init and
# every member serves ZooKeeper clients on 127.0.0.1:$(client_port_of NAME) (BASE+30+N), with the
# lines of ZK_CLIENT_SETTINGS added to its config. A test may append more lines to one member's
# $TEST_TMP/NAME.cfg before starting it (a later line wins).

MEMBER_NAMES=(a b c d e)
declare -A MEMBER_ID=()
ENSEMBLE_BASE_PORT=$((20000 + (RANDOM % 120) * 100))  # below the ephemeral ports (32768+): an outgoing connection can hold one
ENSEMBLE_SECRET=$TEST_TMP/secret
# Short timeouts keep the tests quick: ticks of 50 ms, a silent peer dropped after 0.5 s.
ENSEMBLE_SETTINGS=${ENSEMBLE_SETTINGS:-"tickTime=50
initLimit=40
syncLimit=10
sessionTimeout=1500
writeTimeout=4000"}
ZK_CLIENT_PORTS=${ZK_CLIENT_PORTS:-0}
# Session timeouts a client may ask for: the defaults (2 and 20 ticks) would be 100 ms..1 s here.
ZK_CLIENT_SETTINGS=${ZK_CLIENT_SETTINGS:-"minSessionTimeout=1000
maxSessionTimeout=30000"}

# ensemble_init PARTICIPANTS [OBSERVERS]: names a.. for participants, o for the observer.
ensemble_init() {
  local participants=$1 observers=${2:-0}
  printf 'secret-%s-%s\n' "$RANDOM" "$RANDOM" >"$ENSEMBLE_SECRET"
  chmod 600 "$ENSEMBLE_SECRET"
  ENSEMBLE_SERVERS=""
  local index id name
  for ((index = 0; index < participants; index++)); do
    id=$((index + 1))
    name=${MEMBER_NAMES[$index]}
    MEMBER_ID[$name]=$id
    ENSEMBLE_SERVERS+="server.$id=127.0.0.1:$((ENSEMBLE_BASE_PORT + id)):$((ENSEMBLE_BASE_PORT + 50 + id))"$'\n'
  done
  if ((observers > 0)); then
    id=$((participants + 1))
    MEMBER_ID[o]=$id
    ENSEMBLE_SERVERS+="server.$id=127.0.0.1:$((ENSEMBLE_BASE_PORT + id)):$((ENSEMBLE_BASE_PORT + 50 + id)):observer"$'\n'
  fi
  for name in "${!MEMBER_ID[@]}"; do write_member_config "$name" "$ENSEMBLE_SECRET"; done
}

# client_port_of NAME: the member's ZooKeeper client port (with ZK_CLIENT_PORTS=1).
client_port_of() { echo $((ENSEMBLE_BASE_PORT + 30 + ${MEMBER_ID[$1]})); }

# write_member_config NAME SECRET_FILE
write_member_config() {
  local name=$1 secret=$2
  mkdir -p "$(data_of "$name")" "$(mnt_of "$name")"
  echo "${MEMBER_ID[$name]}" >"$(data_of "$name")/myid"
  {
    echo "dataDir=$(data_of "$name")"
    echo "peerSecretFile=$secret"
    echo "$ENSEMBLE_SETTINGS"
    printf '%s' "$ENSEMBLE_SERVERS"
    if ((ZK_CLIENT_PORTS)); then
      echo "clientPort=$(client_port_of "$name")"
      echo "clientPortAddress=127.0.0.1"
      echo "$ZK_CLIENT_SETTINGS"
    fi
  } >"$TEST_TMP/$name.cfg"
}

# start_members NAME... [-- EXTRA_ARGS...]: starts them all at once, then waits for each mount (a
# member mounts once it synced with a leader, or after writeTimeout without one).
start_members() {
  local names=() name
  while (($# > 0)) && [[ $1 != -- ]]; do
    names+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  for name in "${names[@]}"; do
    spawn_node "$name" --config "$TEST_TMP/$name.cfg" "$(mnt_of "$name")" "$@" || fatal "could not start member $name"
  done
  for name in "${names[@]}"; do
    wait_mounted "$name" || fatal "could not start member $name"
  done
}

# start_unmounted_member NAME: runs member NAME with --no-mount; returns once its log says it
# follows a leader (<= 20 s).
start_unmounted_member() {
  local name=$1 daemon_log
  daemon_log=$(log_of "$name")
  mkdir -p "$(data_of "$name")"
  echo "===== start $(date +%T.%N) $QUORUMFS_BIN --config $TEST_TMP/$name.cfg --no-mount" >>"$daemon_log"
  local from_line
  from_line=$(($(wc -l <"$daemon_log") + 1))
  "$QUORUMFS_BIN" --config "$TEST_TMP/$name.cfg" --no-mount >>"$daemon_log" 2>&1 &
  NODE_PID[$name]=$!
  track_pid "$!"
  wait_for 20 bash -c "tail -n +$from_line '$daemon_log' | grep -q 'now following'"
}

# wait_writable NAME TIMEOUT_S: a write through NAME's mount commits (there is a leader).
wait_writable() {
  local name=$1 timeout_s=$2
  wait_for "$timeout_s" put "$(mnt_of "$name")/.probe-$name" x
}

# leader_name: the running member whose log last announced "now leading" (empty if none).
leader_name() {
  local name line
  for name in "${!MEMBER_ID[@]}"; do
    [[ -n ${NODE_PID[$name]:-} ]] || continue
    line=$(grep -E 'now (leading|following|looking|observing)' "$(log_of "$name")" | tail -n 1)
    [[ $line == *"now leading"* ]] && { echo "$name"; return 0; }
  done
  return 0
}

# synced_content NAME PATH: PATH's content on NAME after a sync(), the way a user asks for it:
# fsync on its directory (the file itself may not have arrived yet).
synced_content() {
  local file
  file="$(mnt_of "$1")/$2"
  sync "$(dirname "$file")" 2>/dev/null
  cat "$file" 2>/dev/null
}
