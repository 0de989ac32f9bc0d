#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan, in build-fuzz/) and runs each
# for SECONDS (default 20), one at a time, over a copy of its seed corpus fuzz/corpus/<target>/
# (the checked-in corpus never changes; see fuzz/README.md for longer runs and merging).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. bash scripts/fuzz.sh 600 package
#
# SECONDS = 0 only builds (the targets and make_seeds, for fuzz/make_corpus.sh).
# FUZZ_BUILD_DIR names another tree to take the targets from, built here but not configured:
# scripts/sanitize.sh's build-asan/ has them too, with libraries that count edges but do not
# trace comparisons (so its test suite stays fast). CI's short runs use it; runs meant to find
# bugs want the default, build-fuzz/.
# Prints one line per target: executions, executions per second, coverage (libFuzzer's "cov",
# edges, and "ft", features) at the start and the end, and the inputs it added. Fails when a
# target crashes, breaks an invariant (FUZZ_REQUIRE), leaks, or spends over 25 s on one input;
# the input is then in <tree>/fuzz-work/<target>/artifacts/ and the report is shown.
# JOBS (default 2) sets the build's parallelism.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-20}"
[[ $# -gt 0 ]] && shift
JOBS="${JOBS:-2}"
say() { echo "fuzz: $*" >&2; }

[[ "$secs" =~ ^[0-9]+$ ]] || {
  say "SECONDS must be a whole number, not '$secs'"
  exit 2
}
command -v clang++ >/dev/null || {
  say "clang++ is missing (apt-get install clang libclang-rt-dev)"
  exit 1
}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in fuzz/*_fuzz.cpp; do
    n=$(basename "$f" .cpp)
    targets+=("${n%_fuzz}")
  done
fi

tree="${FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$tree"
start=$(date +%s)
if [[ -z "${FUZZ_BUILD_DIR:-}" ]] &&
  ! CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DTESSERA_FUZZ=ON >build-fuzz/configure.log 2>&1; then
  tail -n 20 build-fuzz/configure.log >&2
  say "configure failed (build-fuzz/configure.log)"
  exit 1
fi
if ! nice cmake --build "$tree" -j"$JOBS" --target fuzz >"$tree/fuzz-build.log" 2>&1; then
  grep -E -A3 'error:' "$tree/fuzz-build.log" | head -n 60 >&2 ||
    tail -n 30 "$tree/fuzz-build.log" >&2
  say "build failed ($tree/fuzz-build.log)"
  exit 1
fi
say "built ${#targets[@]} targets in $tree in $(($(date +%s) - start)) s; ${secs} s each"
[[ "$secs" -eq 0 ]] && exit 0

# "cov: N ft: M corp: K" of a libFuzzer status line.
field() { sed -nE "s/.* $1: ([0-9]+).*/\1/p" <<<"$2"; }

failed=()
for t in "${targets[@]}"; do
  bin="$tree/bin/${t}_fuzz"
  seeds="fuzz/corpus/$t"
  [[ -x "$bin" && -d "$seeds" ]] || {
    say "$t: no target $bin or no corpus $seeds"
    failed+=("$t")
    continue
  }
  work="$tree/fuzz-work/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$seeds"/* "$work/corpus/"
  set +e
  UBSAN_OPTIONS=print_stacktrace=1 nice "$bin" -max_total_time="$secs" -timeout=25 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/log" 2>&1
  rc=$?
  set -e
  inited=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$work/log" || true)
  last=$(grep -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|DONE|INITED)' "$work/log" | tail -n1 || true)
  execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$work/log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: +([0-9]+)/\1/p' "$work/log")
  added=$(sed -nE 's/^stat::new_units_added: +([0-9]+)/\1/p' "$work/log")
  printf 'fuzz: %-16s %9s execs %7s/s  cov %s -> %s  ft %s -> %s  corpus %s -> %s (+%s)\n' \
    "$t" "${execs:-?}" "${rate:-?}" "$(field cov "$inited")" "$(field cov "$last")" \
    "$(field ft "$inited")" "$(field ft "$last")" "$(ls "$seeds" | wc -l)" \
    "$(ls "$work/corpus" | wc -l)" "${added:-?}" >&2
  if [[ $rc -ne 0 ]]; then
    grep -n -E -A40 'ERROR: |invariant broken|runtime error:|==[0-9]+==' "$work/log" |
      head -n 60 >&2 || tail -n 40 "$work/log" >&2
    say "$t FAILED (exit $rc); input: $(ls "$work"/artifacts/* 2>/dev/null | head -n1); log: $work/log"
    failed+=("$t")
  fi
done
say "done in $(($(date +%s) - start)) s"
if [[ ${#failed[@]} -gt 0 ]]; then
  say "failed: ${failed[*]}"
  exit 1
fi
