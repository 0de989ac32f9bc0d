#!/usr/bin/env bash
# Command (b) of the README: build (scripts/setup.sh), then run every test, one at a time.
#
#   bash scripts/test.sh [extra ctest arguments, e.g. -L unit or -R package]
#
# Integration tests start real node processes on loopback ports and need the CPU, so the suite
# runs serially (-j1). Exits with ctest's status; ctest prints its summary line
# ("100% tests passed, 0 tests failed out of N") at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
set +e
ctest --test-dir build --output-on-failure -j1 "$@"
rc=$?
set -e
echo "test: ctest finished in $(($(date +%s) - start)) s with status $rc" >&2
exit "$rc"
