#!/usr/bin/env bash
# make-captures.sh: makes the capture files of this directory again, each from a session through
# record.py with a standalone Apache ZooKeeper 3.8 on 127.0.0.1 (Debian package zookeeper,
# extendedTypesEnabled=true so TTL nodes work, a fresh dataDir per file).
#
#   $ tests/unit/zk/captures/make-captures.sh                 # all four
#   $ tests/unit/zk/captures/make-captures.sh kazoo_basic     # or some of: kazoo_basic
#                                                             # kazoo_watches cclient_basic zkcli
#
# Needs the Debian packages zookeeper, python3-kazoo and libzookeeper-mt-dev (and gcc). Session
# ids, zxids' epochs, timestamps and the order of pings differ from run to run, so a new capture
# differs from the committed one in those bytes. Everything it starts is stopped by PID on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
captures=("$@")
((${#captures[@]})) || captures=(kazoo_basic kazoo_watches cclient_basic zkcli)
work=$(mktemp -d /tmp/quorumfs-captures.XXXXXX)
base_port=$((20000 + (RANDOM % 120) * 100))
server_port=$((base_port + 1))
proxy_port=$((base_port + 2))
zk_pid=""
proxy_pid=""

say() { echo "make-captures.sh: $*" >&2; }
stop_pid() {
  [[ -n $1 ]] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_pid "$proxy_pid"
  stop_pid "$zk_pid"
  rm -rf "$work"
}
trap cleanup EXIT

# A python3 that has kazoo (a pyenv or venv python may not see Debian's python3-kazoo).
python=python3
python3 -c 'import kazoo' 2>/dev/null || python=/usr/bin/python3
"$python" -c 'import kazoo' || { say "no kazoo module (apt-get install python3-kazoo)"; exit 1; }
zk_version=$(dpkg-query -W -f='${Version}' zookeeper)
kazoo_version=$(dpkg-query -W -f='${Version}' python3-kazoo)

start_zookeeper() {
  rm -rf "$work/zk" && mkdir -p "$work/zk/data"
  printf '%s\n' "tickTime=2000" "dataDir=$work/zk/data" "clientPort=$server_port" \
    "clientPortAddress=127.0.0.1" "admin.enableServer=false" "extendedTypesEnabled=true" \
    "4lw.commands.whitelist=ruok" >"$work/zk/zoo.cfg"
  java -Xmx256m -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.ZooKeeperServerMain \
    "$work/zk/zoo.cfg" >"$work/zk/log" 2>&1 &
  zk_pid=$!
  for _ in $(seq 150); do
    [[ $( (exec 3<>"/dev/tcp/127.0.0.1/$server_port" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null) == imok ]] && return 0
    sleep 0.2
  done
  say "ZooKeeper did not start"; tail "$work/zk/log" >&2; exit 1
}

# capture NAME DESCRIPTION SHOWN COMMAND...: runs COMMAND (which connects to the proxy) with a
# fresh server and the proxy recording into NAME.txt, after a header saying how the file was made
# (SHOWN: COMMAND as the header gives it, without this machine's paths and ports).
capture() {
  local name=$1 description=$2 shown=$3 file=$here/$1.txt
  shift 3
  start_zookeeper
  {
    echo "# $name.txt: $description"
    echo "# Made by tests/unit/zk/captures/make-captures.sh $name: Apache ZooKeeper $zk_version (Debian"
    echo "# package zookeeper) standalone on 127.0.0.1:SERVER with extendedTypesEnabled=true, a fresh dataDir;"
    echo "#   python3 record.py --listen 127.0.0.1:PROXY --server 127.0.0.1:SERVER --out $name.txt --connections 1"
    echo "#   $shown"
    echo "# (PROXY, SERVER: two free loopback ports.) Lines: 'C <hex>' client->server, 'S <hex>' server->client,"
    echo "# each a whole frame with its 4-byte length; '#' lines are comments (record.py names each frame)."
  } >"$file"
  python3 "$here/record.py" --listen "127.0.0.1:$proxy_port" --server "127.0.0.1:$server_port" \
    --out "$file" --connections 1 &
  proxy_pid=$!
  sleep 0.5
  "$@" >"$work/client.out" 2>"$work/client.err" || { say "$name: the client failed:"; cat "$work/client.err" >&2; exit 1; }
  wait "$proxy_pid" || true
  proxy_pid=""
  cut -c 1-110 "$work/client.out" | sed 's/^/# client: /' >>"$file"  # what the client saw, in short
  stop_pid "$zk_pid"
  zk_pid=""
  say "$name.txt: $(grep -c '^[CS] ' "$file") frames"
}

zkcli_session() {
  # One zkCli session; the pauses let pings and the watch events through before the next command.
  {
    printf '%s\n' "create /z root" "create -e /z/eph e" "create -s /z/seq- s" "create -c /z/cont c" \
      "create -t 60000 /z/ttl t" "get -s /z" "set /z v2" "ls /z" "ls -s /z" "stat /z" "whoami" \
      "getAllChildrenNumber /z" "getEphemerals /z" "addWatch /z" "getAcl /z" "sync /z"
    sleep 1
    printf '%s\n' "create /z/new n" "set /z/new n2" "delete /z/new" "removewatches /z -a"
    sleep 3
    printf '%s\n' "delete /z/cont" "quit"
  } | /usr/share/zookeeper/bin/zkCli.sh -timeout 4000 -server "127.0.0.1:$proxy_port" 2>&1 |
    grep -v -e '^$' -e 'INFO' -e 'SLF4J' -e 'log4j' -e ' = '  # no stat lines: the frames have them
}

for name in "${captures[@]}"; do
  case $name in
    kazoo_basic)
      capture kazoo_basic "python3-kazoo $kazoo_version, one session: every request kind kazoo has, with errors" \
        "python3 kazoo_basic.py 127.0.0.1:PROXY" \
        env PYTHONPATH="$here" "$python" "$here/kazoo_basic.py" "127.0.0.1:$proxy_port" ;;
    kazoo_watches)
      capture kazoo_watches "python3-kazoo $kazoo_version: watches firing, addWatch, checkWatches, removeWatches; the changes come from a second, unrecorded session" \
        "python3 kazoo_watches.py 127.0.0.1:PROXY 127.0.0.1:SERVER" \
        env PYTHONPATH="$here" "$python" "$here/kazoo_watches.py" "127.0.0.1:$proxy_port" "127.0.0.1:$server_port" ;;
    cclient_basic)
      gcc -Wall -DTHREADED -o "$work/cclient_capture" "$here/cclient_capture.c" -lzookeeper_mt
      capture cclient_basic "the C client (libzookeeper-mt $(dpkg-query -W -f='${Version}' libzookeeper-mt-dev)), cclient_capture.c" \
        "gcc -DTHREADED -o cclient_capture cclient_capture.c -lzookeeper_mt && ./cclient_capture 127.0.0.1:PROXY" \
        "$work/cclient_capture" "127.0.0.1:$proxy_port" ;;
    zkcli)
      capture zkcli "zkCli.sh of ZooKeeper $zk_version, one session fed the commands listed in make-captures.sh (zkcli_session)" \
        "zkCli.sh -timeout 4000 -server 127.0.0.1:PROXY <commands>" zkcli_session ;;
    *) say "unknown capture: $name"; exit 2 ;;
  esac
done
