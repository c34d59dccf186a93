#!/usr/bin/env bash
# Builds quorumfs and runs every test (unit and integration) with ctest; exits with ctest's code.
#
#   $ bash scripts/test.sh
#   ...
#   100% tests passed, 0 tests failed out of 42
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Integration tests mount FUSE file systems: one at a time keeps them from fighting over the CPU.
status=0
ctest --test-dir "${QUORUMFS_BUILD_DIR:-build}" --output-on-failure -j1 || status=$?
exit "$status"
