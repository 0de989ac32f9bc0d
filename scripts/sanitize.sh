#!/usr/bin/env bash
# The whole ctest suite under AddressSanitizer and UndefinedBehaviorSanitizer: builds everything
# with TESSERA_SANITIZE (clang, -O1, in build-asan/; TESSERA_FUZZ too, so the tree also has the
# fuzz targets, which scripts/test.sh runs from here) and runs the suite there through
# scripts/ctest_suite.sh, unit and integration tests alike. The integration tests start the
# sanitized binaries of build-asan/bin (CMake gives them TESSERA_BIN_DIR), so every node, the
# launcher and the CLI are checked too.
#
#   bash scripts/sanitize.sh [extra ctest arguments, e.g. -L unit or -LE release]
#
# Every process of the run (tests, and the nodes and clients they start) writes its sanitizer
# reports to build-asan/sanitizer-logs/ (log_path) instead of stderr. Any report fails the run,
# even one from a process whose exit status no test looked at (a node stopped at the end of a
# test, say), and the start of each report is shown. A UB report aborts its process
# (-fno-sanitize-recover); leaks are checked at each process's exit (LeakSanitizer), through
# scripts/lsan.supp, which lists leaks that are not ours, one commented entry each (and
# scripts/ubsan_ignorelist.txt the few functions of CAF's headers UBSan leaves alone).
# ASan's quarantine of freed memory is 32 MiB instead of 256: the tests that bound memory (a
# 1 GiB table read in 64 MiB ranges; nodes giving an unloaded model's rows back) measure RSS,
# which a larger quarantine fills with buffers already freed. Use after free of the last
# 32 MiB freed is still caught.
# JOBS (default 2) sets the build's parallelism. SANITIZE_STEP=build only builds, =test only
# runs the suite of the tree built before (scripts/test.sh runs other work between the two).
# Exits with the suite's status, or 1 when a sanitizer reported anything.
set -euo pipefail

cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
say() { echo "sanitize: $*" >&2; }

mkdir -p build-asan
start=$(date +%s)
step="${SANITIZE_STEP:-all}"
if [[ "$step" != test ]]; then
if ! CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release \
  -DTESSERA_SANITIZE=ON -DTESSERA_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
  >build-asan/configure.log 2>&1; then
  tail -n 20 build-asan/configure.log >&2
  say "configure failed (build-asan/configure.log)"
  exit 1
fi
if ! nice cmake --build build-asan -j"$JOBS" >build-asan/build.log 2>&1; then
  grep -E -A3 'error:' build-asan/build.log | head -n 60 >&2 || tail -n 30 build-asan/build.log >&2
  say "build failed (build-asan/build.log)"
  exit 1
fi
say "built in $(($(date +%s) - start)) s"
[[ "$step" == build ]] && exit 0
fi

# SANITIZER_LOG_DIR: where this run's reports go (scripts/test.sh gives each of its two
# concurrent sanitized suites its own).
logs="${SANITIZER_LOG_DIR:-$PWD/build-asan/sanitizer-logs}"
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:quarantine_size_mb=32"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
set +e
bash scripts/ctest_suite.sh build-asan "$@"
rc=$?
set -e
mapfile -t reports < <(find "$logs" -type f | sort)
if [[ ${#reports[@]} -gt 0 ]]; then
  for f in "${reports[@]}"; do
    echo "---- $f" >&2
    head -n 40 "$f" >&2
  done
  say "${#reports[@]} sanitizer report(s) in $logs"
  [[ "$rc" -ne 0 ]] || rc=1
fi
say "done in $(($(date +%s) - start)) s with status $rc"
exit "$rc"
