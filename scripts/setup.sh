#!/usr/bin/env bash
# Prepares a Debian 12 machine for quorumfs and builds it.
#
#   $ bash scripts/setup.sh          # installs what is missing, loads fuse, builds into build/
#   $ bash scripts/setup.sh          # second run: no apt at all, incremental build
#   $ bash scripts/setup.sh --no-build   # packages and fuse only (scripts/sanitize.sh builds its own)
#   $ QUORUMFS_BUILD_JOBS=1 bash scripts/setup.sh   # build one file at a time (default 2)
#
# Everything the project needs on a fresh machine is installed here: CI runs on machines that
# keep nothing installed by hand.
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
  # toolchain and build
  build-essential cmake pkg-config make
  # libraries
  libfuse3-dev libboost-dev libprotobuf-dev protobuf-compiler libabsl-dev libspdlog-dev libfmt-dev
  libxxhash-dev libcli11-dev libssl-dev nlohmann-json3-dev libgtest-dev libgmock-dev googletest
  # the mount and the tools the integration tests drive through it
  fuse3 attr inotify-tools rsync util-linux tar sed coreutils procps kmod psmisc python3 perl
  # tests/integration/operations.sh checks the unit file with systemd-analyze
  systemd
  # ZooKeeper clients for tests/integration/zk_client.sh: kazoo, the C client's cli_mt, zkCli.sh
  python3-kazoo zookeeper-bin zookeeper
  # the benchmark scripts (tools/bench); the admin endpoint's test (tests/integration/admin.sh)
  jq bc curl
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

# FUSE needs /dev/fuse; on a fresh kernel the module may not be loaded yet.
if [[ ! -e /dev/fuse ]]; then
  modprobe fuse || echo "setup: warning: modprobe fuse failed; /dev/fuse is missing" >&2
fi

[[ ${1:-} == --no-build ]] && exit 0

build_dir=${QUORUMFS_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j"${QUORUMFS_BUILD_JOBS:-2}"
