#!/usr/bin/env bash
# Builds quorumfs and runs a standalone node in the foreground.
#
#   $ bash scripts/run.sh                 # mounts /mnt/quorumfs, data in /var/lib/quorumfs
#   $ QUORUMFS_DATA=/srv/q bash scripts/run.sh /mnt/q
#   (Ctrl-C or `fusermount3 -u /mnt/q` stops it cleanly)
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh

data=${QUORUMFS_DATA:-/var/lib/quorumfs}
mountpoint=${1:-/mnt/quorumfs}
mkdir -p "$data" "$mountpoint"
exec "${QUORUMFS_BUILD_DIR:-build}/quorumfs" --data "$data" "$mountpoint"
