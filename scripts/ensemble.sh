#!/usr/bin/env bash
# Builds quorumfs and runs a 3-member ensemble on this machine (loopback ports 2881-2883), each
# member mounted: /mnt/quorumfs-1, -2, -3. Ctrl-C (or SIGTERM) stops all three cleanly.
#
#   $ bash scripts/ensemble.sh            # data in /var/lib/quorumfs-N, logs in /var/log/quorumfs-N.log
#   $ echo hi > /mnt/quorumfs-1/greeting  # (another shell) committed on a majority when echo returns
#   $ cat /mnt/quorumfs-2/greeting
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh

build=${QUORUMFS_BUILD_DIR:-build}
data_root=${QUORUMFS_DATA:-/var/lib/quorumfs}
secret=$data_root-secret
if [[ ! -s $secret ]]; then
  (umask 077 && head -c 32 /dev/urandom | base64 >"$secret")
fi
pids=()
stop_all() {
  trap - INT TERM EXIT
  ((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT
for n in 1 2 3; do
  mkdir -p "$data_root-$n" "/mnt/quorumfs-$n"
  echo "$n" >"$data_root-$n/myid"
  cat >"$data_root-$n/zoo.cfg" <<CFG
tickTime=200
initLimit=10
syncLimit=5
sessionTimeout=4000
dataDir=$data_root-$n
mountPoint=/mnt/quorumfs-$n
peerSecretFile=$secret
server.1=127.0.0.1:2881:3881
server.2=127.0.0.1:2882:3882
server.3=127.0.0.1:2883:3883
CFG
  "$build/quorumfs" --config "$data_root-$n/zoo.cfg" >>"/var/log/quorumfs-$n.log" 2>&1 &
  pids+=($!)
done
for n in 1 2 3; do
  for ((i = 0; i < 300; i++)); do mountpoint -q "/mnt/quorumfs-$n" && break; sleep 0.1; done
done
echo "ensemble running: /mnt/quorumfs-1 /mnt/quorumfs-2 /mnt/quorumfs-3 (logs /var/log/quorumfs-N.log); Ctrl-C stops it"
wait
