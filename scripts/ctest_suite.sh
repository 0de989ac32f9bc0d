#!/usr/bin/env bash
# Runs the ctest suite of one build tree and reports skipped tests; scripts/test.sh (build/)
# and scripts/sanitize.sh (build-asan/) both run their suites through it.
#
#   bash scripts/ctest_suite.sh BUILD_DIR [extra ctest arguments, e.g. -L unit or -R package]
#
# Unit tests run two at a time (-j2, one per core). Integration tests start real node processes
# on loopback ports and need the CPU: CMakeLists.txt marks them RUN_SERIAL, so each runs alone,
# never beside another test. ctest prints its summary line ("100% tests passed, 0 tests failed
# out of N") at the end.
#
# A test that cannot run here (no `fasttext`, no root for network namespaces) exits 77 and ctest
# reports it as Skipped, not passed (tests/support/skip.hpp). Skips are listed at the end. When
# CI is set (.ci/run sets CI=true; "false" and "0" count as unset) any skipped test fails the
# run, so a green CI ran every test.
# Exits with ctest's status, or 1 for skips under CI.
set -euo pipefail

cd "$(dirname "$0")/.."
dir="$1"
shift
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
ctest --test-dir "$dir" --output-on-failure -j2 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "test: ctest in $dir finished in $(($(date +%s) - start)) s with status $rc" >&2
# ctest marks each skipped test "***Skipped" on its result line.
skipped=$(grep -E '\*\*\*Skipped' "$log" | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/\1/' || true)
if [[ -n "$skipped" ]]; then
  echo "test: skipped in $dir (could not run here): $(echo $skipped)" >&2
  if [[ -n "${CI:-}" && "${CI}" != "false" && "${CI}" != "0" ]]; then
    echo "test: CI=${CI}: a skipped test fails the run" >&2
    [[ "$rc" -ne 0 ]] || rc=1
  fi
fi
exit "$rc"
