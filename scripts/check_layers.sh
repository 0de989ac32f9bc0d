#!/usr/bin/env bash
# Fails when a file includes a project header from a layer it may not use (a layer above it,
# or a sibling). Runs as the ctest `check_layers`.
#
#   bash scripts/check_layers.sh
#
# Layers, lowest first (docs/ARCHITECTURE.md): base < package < cluster < {importers, actors}
# < {testing (test-only), node} < cli. Unit tests (*_test.cpp) may also include testing/.
# Above them, each using what it links (CMakeLists.txt, fuzz/CMakeLists.txt): tests/ and
# tests/support/ (integration tests) anything; bench/ anything but tests/; fuzz/ everything
# but cli/ and tests/ (it links the pure parts of node/ and testing/, not the itest support).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [base]="base"
  [package]="base package"
  [cluster]="base package cluster"
  [importers]="base package cluster importers"
  [actors]="base package cluster actors"
  [testing]="base package cluster importers testing"
  [node]="base package cluster actors node schemas generated"
  [cli]="base package cluster importers node cli schemas generated"
  [tests]="base package cluster importers actors testing node cli schemas generated tests"
  [tests/support]="base package cluster importers actors testing node cli schemas generated tests"
  [bench]="base package cluster importers actors testing node cli schemas generated"
  [fuzz]="base package cluster importers actors testing node schemas generated fuzz"
)

bad=0
checked=0
for layer in "${!allowed[@]}"; do
  for f in "$layer"/*.hpp "$layer"/*.cpp; do
    [[ -e "$f" ]] || continue
    checked=$((checked + 1))
    ok=" ${allowed[$layer]} "
    [[ "$f" == *_test.cpp ]] && ok+="testing "
    while IFS= read -r inc; do
      top="${inc%%/*}"
      if [[ "$ok" != *" $top "* ]]; then
        echo "layering: $f includes \"$inc\" ($layer may use:${ok% })" >&2
        bad=$((bad + 1))
      fi
    done < <(sed -n 's/^#include "\([^"]*\/[^"]*\)".*/\1/p' "$f")
  done
done
if [[ $checked -lt 50 ]]; then
  echo "layering: only $checked files found; is this the repository root?" >&2
  exit 1
fi
echo "layering: $checked files checked, $bad violations"
[[ $bad -eq 0 ]]
