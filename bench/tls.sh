#!/usr/bin/env bash
# What does TLS cost? The same generated model and inputs served by a 3-shard cluster in up to
# three modes, side by side in one run, rounds interleaved (both, tls, plain, both, ...) so
# drift hits all alike:
#   both   TLS on both edges: node-to-node mutual TLS and client TLS at the gateway
#   tls    node-to-node mutual TLS only (the local default), plaintext clients
#   plain  `[tls] insecure = true`, plaintext clients: no TLS anywhere
#
#   rows: single inputs at concurrency 1, 8, 32; batches of 256 at concurrency 4
#
# Env: DURATION (s per row, default 10), ROUNDS (default 2), MODES (default "both tls plain"),
# KEEP=1 keeps scratch.
# Results: bench/out/tls/ (gitignored): table.txt, rows.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/tls}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
MODES=${MODES:-both tls plain}
WORK=$(mktemp -d /tmp/tessera-bench-tls.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

install_cleanup
bench_begin tessera tessera-node
rm -f "$OUT"/rows.tsv

log "generating the model in $WORK/model"
"$BIN/tessera" gen-model "$WORK/model" 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 10000 20240602

TSV=$OUT/rows.tsv
: >"$TSV"
for round in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    case $mode in
      both) BENCH_TLS_INSECURE=false BENCH_GATEWAY_TLS=true ;;
      tls) BENCH_TLS_INSECURE=false BENCH_GATEWAY_TLS=false ;;
      plain) BENCH_TLS_INSECURE=true BENCH_GATEWAY_TLS=false ;;
      *) die "unknown mode $mode (both, tls, plain)" ;;
    esac
    pick_ports
    write_config "$WORK/cluster.toml"
    start_cluster "$WORK/cluster.toml" "$WORK/cluster-$mode-$round"
    load_model "$WORK/model" served
    bench_row "$TSV" "$mode-single-c1" served "$INPUT" 1 1 "$DURATION"
    bench_row "$TSV" "$mode-single-c8" served "$INPUT" 8 1 "$DURATION"
    bench_row "$TSV" "$mode-single-c32" served "$INPUT" 32 1 "$DURATION"
    bench_row "$TSV" "$mode-batch256-c4" served "$INPUT" 4 256 "$DURATION"
    stop_cluster
  done
done

{
  echo "both = TLS at the gateway + node-to-node mutual TLS; tls = node-to-node only; plain = none"
  echo "(3 shards, 1 host, 2 cores), modes: $MODES, $ROUNDS rounds interleaved"
  echo "model: gen-model defaults, 205000 x 64, relu 32, 8 labels; input: 10000 lines, 5-20 words"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  printf '%-20s %5s %5s %10s %10s %8s %8s %8s %6s | %5s %6s %6s\n' \
    row conc batch req/s inputs/s p50_us p99_us p999_us errs coord shards client
  sort -s -t$'\t' -k1,1 "$TSV" | awk -F'\t' '{printf "%-20s %5d %5d %10.1f %10.1f %8d %8d %8d %6d | %5.2f %6.2f %6.2f\n",
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, $13}'
  echo "coord/shards/client = CPU cores used (CPU s / wall s incl. 1 s warmup; shards = sum of 3)"
} | tee "$OUT/table.txt"
