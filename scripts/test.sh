#!/usr/bin/env bash
# Command (b) of the README, and what .ci/run runs: every test, built three ways.
#
#   bash scripts/test.sh                   the three stages below, then a summary
#   bash scripts/test.sh [ctest args]      only the Release build and ctest with these
#                                          arguments (e.g. -L unit, -L integration, -R
#                                          package): the quick loop while developing
#
# 1. release: build/ (scripts/setup.sh), only the programs and the integration tests with
#    cases tagged [large] (parity on 20,000-label models) or [release] (memory bounds that
#    ASan's own allocations would hide; torch_itest and compose_itest, for CI's time), and
#    those cases (ctest -L release; CMakeLists.txt);
# 2. sanitize: build-asan/ with ASan + UBSan (scripts/sanitize.sh): every other integration
#    test, against sanitized nodes (ctest -L integration -LE release), and beside it at nice 19
#    the unit tests (unit-asan, ctest -L unit); any sanitizer report fails them;
#    Stage 1's tests run while stage 2 builds, stage 3 while stage 2's suite runs (at nice 19).
# 3. fuzz: each libFuzzer target for FUZZ_SECONDS (default 10) over its seed corpus, built in
#    build-asan/ by stage 2 (scripts/fuzz.sh with FUZZ_BUILD_DIR=build-asan).
# So every test runs once, all but the [large] and [release] cases under the sanitizers. The
# whole suite under the sanitizers took over 12 minutes here, 8.5 of them in [large] (7 times
# their Release time: UBSan checks every pointer step of the output layer's float loops),
# which left no room in CI's 20 minutes for the Release build and the fuzzers; the code they
# run is under the sanitizers in the smaller parity cases and the unit tests. The Release unit
# tests are left out of the full run (the quick loop builds and runs them) to keep two builds
# inside CI's budget on a fresh machine, where apt takes its share first.
#
# Integration tests run one at a time, unit tests two at a time (scripts/ctest_suite.sh). A test that cannot run here (no `fasttext`, no
# root for network namespaces) exits 77 and ctest reports it as Skipped, not passed
# (tests/support/skip.hpp); skips are listed after each suite. When CI is set (.ci/run sets
# CI=true; "false" and "0" count as unset) any skipped test fails the run, so a green CI ran
# every test.
# Exits 0 when every stage passed, else 1 (or ctest's status in the quick loop).
set -euo pipefail

cd "$(dirname "$0")/.."
begin=$(date +%s)
if [[ $# -gt 0 ]]; then
  bash scripts/setup.sh
  exec bash scripts/ctest_suite.sh build "$@"
fi
# The integration tests with cases for the Release stage (the same rule as CMakeLists.txt).
mapfile -t release_tests < <(grep -lE '\[(large|release)\]' tests/*_itest.cpp | xargs -n1 basename |
  sed 's/\.cpp$//')
bash scripts/setup.sh tessera tessera-node "${release_tests[@]}"

summary=("$(printf '%-9s done after %d s' build "$(($(date +%s) - begin))")")
failed=0
# stage NAME COMMAND...: runs it, notes its time and status, never stops the run.
stage() {
  local name=$1 start rc
  shift
  start=$(date +%s)
  echo "test: stage $name: $*" >&2
  set +e
  "$@"
  rc=$?
  set -e
  summary+=("$(printf '%-9s %s after %d s' "$name" "$([[ $rc -eq 0 ]] && echo passed || echo "FAILED ($rc)")" "$(($(date +%s) - start))")")
  [[ $rc -eq 0 ]] || failed=1
}

# beside NAME COMMAND...: starts COMMAND in the background, its output in a log of its own.
# joined NAME WHAT [err]: waits for it, prints its log (to stderr with `err`), and notes its
# status and time in the summary as "NAME ... (beside WHAT)".
declare -A bg_pid bg_log bg_start
beside() {
  local name=$1
  shift
  bg_log[$name]=$(mktemp)
  bg_start[$name]=$(date +%s)
  "$@" >"${bg_log[$name]}" 2>&1 &
  bg_pid[$name]=$!
}
joined() {
  local name=$1 what=$2 rc
  set +e
  wait "${bg_pid[$name]}"
  rc=$?
  set -e
  if [[ "${3:-}" == err ]]; then cat "${bg_log[$name]}" >&2; else cat "${bg_log[$name]}"; fi
  rm -f "${bg_log[$name]}"
  summary+=("$(printf '%-9s %s after %d s (beside %s)' "$name" "$([[ $rc -eq 0 ]] && echo passed || echo "FAILED ($rc)")" "$(($(date +%s) - bg_start[$name]))" "$what")")
  [[ $rc -eq 0 ]] || failed=1
}

# The Release cases run while build-asan/ builds (at nice: the tests keep the CPU they need),
# then the sanitized suite runs alone.
beside release bash scripts/ctest_suite.sh build -L release
stage asan-build env SANITIZE_STEP=build bash scripts/sanitize.sh
joined release asan-build
# The fuzzers run beside the sanitized suite at the lowest priority: they take only the CPU
# the suite leaves idle (its integration tests mostly wait on their nodes), so they add no
# wall time and cannot slow a test into a timeout. FUZZ_SECONDS is wall time per target.
beside fuzz env FUZZ_BUILD_DIR=build-asan nice -n 19 bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
# The sanitized unit tests run beside the integration tests at the lowest priority too: the
# integration tests run one at a time and mostly wait on their nodes, so the unit tests take
# CPU they leave idle instead of a minute of wall time before them.
beside unit-asan env SANITIZE_STEP=test SANITIZER_LOG_DIR="$PWD/build-asan/sanitizer-logs-unit" \
  nice -n 19 bash scripts/sanitize.sh -L unit
stage sanitize env SANITIZE_STEP=test bash scripts/sanitize.sh -L integration -LE release
joined unit-asan sanitize
joined fuzz sanitize err
for line in "${summary[@]}"; do echo "test: $line" >&2; done
echo "test: $(($(date +%s) - begin)) s in all" >&2
exit "$failed"
