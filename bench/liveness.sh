#!/usr/bin/env bash
# Are healthy members ever marked down under load? (issue 16, item 5)
#
# A 3-shard cluster (node-to-node TLS, heartbeat 200 ms, connection timeout 1000 ms: the
# defaults) serving a generated model (BUCKETS hashed rows, dim 64, its table split over the
# nodes) loaded with --exact-pooling, so every batch gathers its rows from the shards: with
# long lines (WORDS_MIN..WORDS_MAX words, about two ids a word) a call of 256 lines moves
# tens of MB of rows. Rows:
#   exact-c1     tessera bench --batch 256 --concurrency 1
#   exact-c8     tessera bench --batch 256 --concurrency 8 (the failing load of the issue)
#   exact-c8-hog the same beside HOGS busy loops (`yes >/dev/null`, nice 0)
# Each row prints calls, errors (by code), lines/s, and how many times the coordinator's log
# said a member was down during it (no node is killed here: every such line is a healthy
# member marked down).
#
# Env: DURATION (s per row, default 20), BUCKETS (2000000), REPLICAS (1), HOGS (4),
# WORDS_MIN/WORDS_MAX (100/300), ROWS (all three, e.g. "exact-c1 exact-c8"), KEEP=1 keeps
# the scratch dir. BIN=DIR runs other binaries (e.g. a build without the fix, to compare).
# Results: bench/out/liveness/ (gitignored): table.txt, one JSON per row, coord.log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/liveness}
DURATION=${DURATION:-20}
BUCKETS=${BUCKETS:-2000000}
REPLICAS=${REPLICAS:-1}
HOGS=${HOGS:-4}
WORDS_MIN=${WORDS_MIN:-100}
WORDS_MAX=${WORDS_MAX:-300}
WORK=$(mktemp -d /tmp/tessera-liveness.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

HOG_PIDS=()
stop_hogs() {
  local p
  for p in "${HOG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${HOG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  HOG_PIDS=()
}
trap 'rc=$?; stop_hogs; stop_cluster; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
trap 'exit 130' INT TERM

bench_begin tessera tessera-node
rm -f "$OUT"/*.json "$OUT"/table.txt "$OUT"/coord.log

log "generating the model ($BUCKETS buckets, dim 64)"
"$BIN/tessera" gen-model "$WORK/model" --buckets "$BUCKETS" --dim 64 2>"$WORK/gen.err" ||
  die "gen-model failed"
INPUT=$WORK/input.txt
python3 - "$WORK/model/vocab.txt" "$INPUT" "$WORDS_MIN" "$WORDS_MAX" <<'PY'
import random, sys
words = [w.strip() for w in open(sys.argv[1], encoding="utf-8") if w.strip()]
rng = random.Random(16)
lo, hi = int(sys.argv[3]), int(sys.argv[4])
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for _ in range(2048):
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(lo, hi))) + "\n")
PY
pick_ports
write_config "$WORK/cluster.toml"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"
COORD_LOG=$WORK/cluster/logs/coord.log
tcli --timeout 3600 load "$WORK/model" --name live --replicas "$REPLICAS" --exact-pooling \
  >/dev/null || die "load failed"
tcli status --wait-ready 300 >/dev/null || die "not ready after load"

downs() { grep -c "is down" "$COORD_LOG" 2>/dev/null || true; }

# row LABEL CONCURRENCY HOGS
row() {
  local label=$1 conc=$2 hogs=$3 js=$OUT/$1.json before i
  log "row $label: concurrency $conc, batch 256, ${DURATION}s, $hogs CPU hogs"
  for ((i = 0; i < hogs; i++)); do
    yes >/dev/null &
    HOG_PIDS+=($!)
  done
  before=$(downs)
  "$BIN/tessera" --connect "$GATEWAY" --token "$BENCH_TOKEN" --timeout 30 bench --model live \
    --concurrency "$conc" --batch 256 --duration "$DURATION" --warmup 0 --json "$INPUT" \
    >"$js" 2>"$WORK/$label.err" || log "bench $label exited non-zero (see $WORK/$label.err)"
  stop_hogs
  echo "$(($(downs) - before))" >"$OUT/$label.downs"
  tcli status --wait-ready 120 >/dev/null || die "not ready again after $label"
}

ROWS=${ROWS:-exact-c1 exact-c8 exact-c8-hog}
for r in $ROWS; do
  case $r in
    exact-c1) row exact-c1 1 0 ;;
    exact-c8) row exact-c8 8 0 ;;
    exact-c8-hog) row exact-c8-hog 8 "$HOGS" ;;
    *) die "unknown row $r" ;;
  esac
done
cp "$COORD_LOG" "$OUT/coord.log"

{
  printf "%-13s %6s %7s %9s %8s  %s\n" row calls errors lines/s downs codes
  for r in $ROWS; do
    if [ -s "$OUT/$r.json" ]; then
      jq -r --arg r "$r" --arg d "$(cat "$OUT/$r.downs")" \
        '[$r, .requests, .error_count, (.inputs_per_s | floor), $d, (.errors | tostring)] | @tsv' \
        "$OUT/$r.json" | awk -F'\t' '{printf "%-13s %6s %7s %9s %8s  %s\n", $1, $2, $3, $4, $5, $6}'
    else
      printf "%-13s (the bench failed: %s)\n" "$r" "$(tail -1 "$WORK/$r.err")"
    fi
  done
} | tee "$OUT/table.txt"
