#!/usr/bin/env bash
# Fails when a Catch2 test case or section name has its first ": " far into the name. Catch2
# v2's console reporter indents the wrapped lines of a failing case's header by the column
# after that ": "; past its line width (79) the wrap never ends, and a failure printed
# gigabytes of '-' lines until the test died of bad_alloc (liveness_itest, issue 16). Runs as
# the ctest `check_test_names`.
#
#   bash scripts/check_test_names.sh
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - <<'PY'
import glob, re, sys
limit = 60  # the column of the first ": ", with room for the reporter's indent
bad = 0
for f in sorted(glob.glob("**/*.cpp", recursive=True)):
    if f.startswith(("build", ".")):
        continue
    text = open(f, encoding="utf-8").read()
    for m in re.finditer(r'\b(TEST_CASE|SECTION)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', text):
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
        at = name.find(": ")
        if at > limit:
            line = text.count("\n", 0, m.start()) + 1
            print(f"{f}:{line}: first ': ' at column {at} (> {limit}): {name[:90]}")
            bad += 1
sys.exit(1 if bad else 0)
PY
