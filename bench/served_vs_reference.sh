#!/usr/bin/env bash
# How far is the served path (gateway -> coordinator -> 3 shards) from the in-process
# reference model on the same generated package and the same inputs?
#
#   1. gen-model with defaults (205,000 x 64 table, relu 32, 8 labels softmax), in scratch
#   2. 10,000 deterministic input lines of 5-20 words from the package's vocab.txt
#   3. a private 3-shard cluster (free ports >= 17300), the model loaded
#   4. tessera bench: single inputs at concurrency 1, 8, 32; batches of 256 at concurrency 2, 4
#   5. bench/reference_bench (single thread, in-process) on the same input
#   6. one table, incl. tessera inputs/s / in-process inputs/s, and the CPU each side used
#
# Env: DURATION (s per row, default 10), REF_SECONDS (default 5), KEEP=1 keeps scratch.
#      BENCH_CONNECTIONS (default 1): client connections the calls of a row are spread over
#      (tessera bench --connections; the gateway gives each one a serving actor).
#      BEFORE_BIN: a second build's bin dir (e.g. of the previous commit); its cluster runs the
#      same rows in the same run, after this build's, driven by this build's `tessera bench`,
#      and the table shows both ("before" rows) side by side.
#      AFTER_LIMITS_EXTRA: lines added to [limits] of this build's cluster only (an older
#      build refuses keys it does not know), e.g. 'serving_affinity = "connection"'.
#      ROUNDS (default 1): with BEFORE_BIN, the two arms run this many times, interleaved
#      (rows of round 2 and later are prefixed "rN-").
# Results: bench/out/served_vs_reference/ (gitignored): table.txt, rows.tsv, bench JSON, cluster logs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/served_vs_reference}
DURATION=${DURATION:-10}
REF_SECONDS=${REF_SECONDS:-5}
WORK=$(mktemp -d /tmp/tessera-served-vs-ref.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

install_cleanup

for b in tessera tessera-node reference_bench; do
  [ -x "$BIN/$b" ] || die "$BIN/$b missing: build first (cmake --build build -j2)"
done
# Others rebuild build/ while we run: work on a snapshot of the binaries.
snapshot_bins tessera tessera-node reference_bench
AFTER_BIN=$BIN
if [ -n "${BEFORE_BIN:-}" ]; then
  for b in tessera tessera-node; do
    [ -x "$BEFORE_BIN/$b" ] || die "$BEFORE_BIN/$b missing"
  done
  mkdir -p "$WORK/before-bin"
  cp -p "$BEFORE_BIN/tessera" "$BEFORE_BIN/tessera-node" "$WORK/before-bin/"
fi
command -v jq >/dev/null || die "jq is required"
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/rows.tsv

log "generating the model in $WORK/model"
"$BIN/tessera" gen-model "$WORK/model" 2>"$WORK/gen.err" || die "gen-model failed"

log "writing 10,000 input lines"
INPUT=$WORK/input.txt
python3 - "$WORK/model/vocab.txt" "$INPUT" <<'EOF'
import random, sys
words = [w.strip() for w in open(sys.argv[1], encoding="utf-8") if w.strip()]
rng = random.Random(20240602)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for _ in range(10000):
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(5, 20))) + "\n")
EOF

log "in-process reference (${REF_SECONDS}s, single thread)"
"$BIN/reference_bench" "$WORK/model" "$INPUT" --seconds "$REF_SECONDS" --json \
  >"$OUT/reference.json" || die "reference_bench failed"
REF_IPS=$(jq .inputs_per_s "$OUT/reference.json")

TSV=$OUT/rows.tsv
: >"$TSV"
RSS=""
# run_arm PREFIX CLUSTER_BIN: a cluster of CLUSTER_BIN's tessera-node, the rows, stopped.
run_arm() {
  local prefix=$1
  BIN=$2
  pick_ports
  local extra=${BENCH_LIMITS_EXTRA:-}
  [ "$BIN" != "$AFTER_BIN" ] || BENCH_LIMITS_EXTRA="$extra${AFTER_LIMITS_EXTRA:-}"
  write_config "$WORK/cluster$prefix.toml"
  BENCH_LIMITS_EXTRA=$extra
  # Every arm starts with no models: another build must not recover this one's registry (a
  # build of another registry format refuses it and its coordinator exits).
  rm -rf "$WORK/state"
  start_cluster "$WORK/cluster$prefix.toml" "$WORK/cluster$prefix"
  load_model "$WORK/model" served
  BIN=$AFTER_BIN  # the client: this build's tessera bench
  bench_row "$TSV" "${prefix}single-c1" served "$INPUT" 1 1 "$DURATION" "$REF_IPS"
  bench_row "$TSV" "${prefix}single-c8" served "$INPUT" 8 1 "$DURATION" "$REF_IPS"
  bench_row "$TSV" "${prefix}single-c32" served "$INPUT" 32 1 "$DURATION" "$REF_IPS"
  bench_row "$TSV" "${prefix}batch256-c2" served "$INPUT" 2 256 "$DURATION" "$REF_IPS"
  bench_row "$TSV" "${prefix}batch256-c4" served "$INPUT" 4 256 "$DURATION" "$REF_IPS"
  RSS="$RSS$(peak_rss_table | sed "s/^/${prefix}/")"$'\n'
  stop_cluster
  cp -r "$WORK/cluster$prefix/logs" "$OUT/logs$prefix" 2>/dev/null || true
}
run_arm "" "$AFTER_BIN"
[ -z "${BEFORE_BIN:-}" ] || run_arm "before-" "$WORK/before-bin"
if [ -n "${BEFORE_BIN:-}" ]; then
  for r in $(seq 2 "${ROUNDS:-1}"); do
    run_arm "r$r-" "$AFTER_BIN"
    run_arm "r$r-before-" "$WORK/before-bin"
  done
fi
cp "$WORK"/bench.*.json "$OUT"/

{
  echo "issue 2: tessera (3 shards, 1 host, 2 cores) vs in-process reference_model"
  echo "model: gen-model defaults, 205000 x 64, relu 32, 8 labels; input: 10000 lines, 5-20 words"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  echo "connections per row: ${BENCH_CONNECTIONS:-1}${BEFORE_BIN:+; before-: $BEFORE_BIN}${AFTER_LIMITS_EXTRA:+; [limits] $AFTER_LIMITS_EXTRA}"
  printf '%-19s %5s %5s %10s %10s %8s %8s %8s %6s %9s | %5s %6s %6s\n' \
    row conc batch req/s inputs/s p50_us p99_us p999_us errs ratio coord shards client
  awk -F'\t' '{printf "%-19s %5d %5d %10.1f %10.1f %8d %8d %8d %6d %9.5f | %5.2f %6.2f %6.2f\n",
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13}' "$TSV"
  jq -r '"in-process   \(.inputs_per_s | floor) inputs/s, \(.us_per_input) us/input (reference_bench, 1 thread, \(.elapsed_s | . * 10 | floor / 10) s)"' \
    "$OUT/reference.json"
  echo "ratio = tessera inputs/s / in-process inputs/s; coord/shards/client = CPU cores used"
  echo "(CPU s / wall s over the row incl. 1 s warmup; shards = sum of 3 nodes; client = tessera bench)"
  echo "peak RSS (VmHWM, kB): $(echo "$RSS" | awk '{printf "%s %s  ", $1, $3}')"
} | tee "$OUT/table.txt"
