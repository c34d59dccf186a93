#!/usr/bin/env bash
# Builds quorumfs and runs every test (unit, simulation and integration) with ctest, then the unit
# and simulation tests again under AddressSanitizer and UndefinedBehaviorSanitizer
# (scripts/sanitize.sh, its own build in build-sanitize/); exits non-zero if either run failed.
#
#   $ bash scripts/test.sh
#   ...
#   == every test (build/):
#   100% tests passed, 0 tests failed out of 332
#   == unit and simulation tests under ASan and UBSan (build-sanitize/):
#   100% tests passed, 0 tests failed out of 319
#
# What the sanitizer pass costs, measured from a clean clone with CI=true on 2 cores shared with
# other builds, one compile at a time (QUORUMFS_BUILD_JOBS=1), packages already installed: 13 of
# 23 min (build-sanitize/ 12 min, its tests 53 s; build/ 9 min, its tests 72 s). In CPU time the
# sanitized build takes 7.7 min and build/ 5 min; CI compiles two files at a time.
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Packages only the tests need, too big to put on every machine that builds quorumfs: a headless
# browser for the admin endpoint's web view (tests/integration/admin.sh).
test_packages=(chromium)
missing=()
for package in "${test_packages[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true) == installed ]] || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  echo "test: installing ${missing[*]}"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { "${sudo[@]}" apt-get update -q && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# The summary of each run is printed again at the end: the first one is far up by then.
summary() {
  echo "== $1:"
  grep -q '% tests passed' "$2" && sed -n '/% tests passed/,$p' "$2" || echo "no tests ran (see above)"
}

# Integration tests mount FUSE file systems: one at a time keeps them from fighting over the CPU.
status=0
ctest --test-dir "${QUORUMFS_BUILD_DIR:-build}" --output-on-failure -j1 2>&1 | tee "$logs/all" || status=$?
bash scripts/sanitize.sh 2>&1 | tee "$logs/sanitize" || status=$?

echo
summary "every test (${QUORUMFS_BUILD_DIR:-build}/)" "$logs/all"
summary "unit and simulation tests under ASan and UBSan (${QUORUMFS_SANITIZE_BUILD_DIR:-build-sanitize}/)" "$logs/sanitize"
exit "$status"
