#!/usr/bin/env bash
# Builds the unit and simulation tests with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-sanitize/ and runs them (ctest -L unit, -L simulation); any sanitizer report fails its test.
# Not the FUSE integration tests and not the benchmarks (docs/operations.md, "Sanitizers").
#
#   $ bash scripts/sanitize.sh
#   ...
#   100% tests passed, 0 tests failed out of 319
#   $ bash scripts/sanitize.sh -R 'TxnLogTest\.'     # extra arguments go to ctest: replay some tests
#
# Debug at -O1, not RelWithDebInfo: without NDEBUG the assert()s of the library headers compiled
# into our code (abseil's btree and hash tables) stay on too, and -O1 compiles faster than -O2 and
# hides less (inlined frames, folded checks). Not -O0: the 1000 simulated seeds take 15 s of CPU at
# -O1 and 52 s at -O0 (the normal build: 1.4 s).
#
# QUORUMFS_SANITIZE_BUILD_DIR (default build-sanitize) and QUORUMFS_BUILD_JOBS (default 2) change
# where and how wide it builds; ASAN_OPTIONS/UBSAN_OPTIONS already set are appended (they win).
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-build

build_dir=${QUORUMFS_SANITIZE_BUILD_DIR:-build-sanitize}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" -DQUORUMFS_SANITIZE=ON
cmake --build "$build_dir" -j"${QUORUMFS_BUILD_JOBS:-2}" --target unit_and_simulation_tests

# A report ends the process with exit code 1 (ASan stops at the first error by itself; UBSan
# because of -fno-sanitize-recover=all). handle_abort stays off: a death test's abort() must
# still end in SIGABRT.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
exec ctest --test-dir "$build_dir" -L '^(unit|simulation)$' --output-on-failure -j1 "$@"
