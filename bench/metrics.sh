#!/usr/bin/env bash
# What does counting requests for /metrics cost on the request path? The same generated model
# (R=1 over 3 shard nodes) and inputs served with [http] metrics = true (the default) and false,
# side by side in one run, rounds interleaved (on, off, on, off) so drift hits both alike.
# Both arms run the HTTP server on the coordinator and scrape /metrics once a second, as
# Prometheus would; only the coordinator's per-call counting differs.
#
#   rows per mode: single inputs at concurrency 8, and batches of 16 at concurrency 4
#
# Env: DURATION (s per row, default 10), ROUNDS (default 2), KEEP=1 keeps scratch.
# Results: bench/out/metrics/ (gitignored): table.txt, rows.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/metrics}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /tmp/tessera-bench-metrics.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SCRAPER_PID=""
stop_scraper() {
  if [ -n "$SCRAPER_PID" ]; then
    kill "$SCRAPER_PID" 2>/dev/null || true
    wait "$SCRAPER_PID" 2>/dev/null || true
    SCRAPER_PID=""
  fi
}
trap 'rc=$?; stop_scraper; stop_cluster; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
trap 'exit 130' INT TERM

bench_begin tessera tessera-node
command -v curl >/dev/null || die "curl is required (the scraper)"

log "generating the model in $WORK/model"
"$BIN/tessera" gen-model "$WORK/model" 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 10000 20240603

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_scraper PORT: GET /metrics once a second until stop_scraper; counts failures.
start_scraper() {
  local port=$1
  (
    trap 'exit 0' TERM
    while true; do
      curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" || echo fail >>"$WORK/scrape.failures"
      sleep 1
    done
  ) &
  SCRAPER_PID=$!
}

TSV=$OUT/rows.tsv
: >"$TSV"
: >"$WORK/scrape.failures"
for round in $(seq 1 "$ROUNDS"); do
  for mode in on off; do
    pick_ports
    write_config "$WORK/cluster.toml"
    hp=$(free_port)
    sed -i "s/^gateway_port = .*/&\nhttp_port = $hp/" "$WORK/cluster.toml"
    printf '\n[http]\nmetrics = %s\n' "$([ $mode = on ] && echo true || echo false)" \
      >>"$WORK/cluster.toml"
    start_cluster "$WORK/cluster.toml" "$WORK/cluster-$mode-$round"
    load_model "$WORK/model" served
    start_scraper "$hp"
    bench_row "$WORK/rows.raw" "metrics-$mode-b1" served "$INPUT" 8 1 "$DURATION"
    tail -1 "$WORK/rows.raw" | awk -v r="$round" 'BEGIN { OFS = "\t" } { print $0, r }' >>"$TSV"
    bench_row "$WORK/rows.raw" "metrics-$mode-b16" served "$INPUT" 4 16 "$DURATION"
    tail -1 "$WORK/rows.raw" | awk -v r="$round" 'BEGIN { OFS = "\t" } { print $0, r }' >>"$TSV"
    counted=$(curl -sf "http://127.0.0.1:$hp/metrics" |
      awk '/^tessera_requests_total\{/ && /[{,]model="served"[,}]/ && /[{,]kind="predict"[,}]/ &&
           /[{,]status="ok"[,}]/ { n += $2 } END { print n + 0 }')  # labels in any order
    log "mode $mode: coordinator counted ${counted:-0} ok calls"
    stop_scraper
    stop_cluster
  done
done

{
  echo "request counting for /metrics on vs off, R=1 over 3 shards, 1 host, 2 cores; /metrics scraped every 1 s in both"
  echo "model: gen-model defaults; ${DURATION}s per row, $ROUNDS rounds interleaved; failed scrapes: $(wc -l <"$WORK/scrape.failures")"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  printf '%-18s %5s %9s %9s %8s %8s %6s %10s\n' row round req/s inputs/s p50_us p99_us errs coord_cpu
  sort -s -t$'\t' -k1,1 "$TSV" | awk -F'\t' '{printf "%-18s %5d %9.1f %9.1f %8d %8d %6d %10.2f\n",
    $1, $14, $4, $5, $6, $7, $9, $11}'
} | tee "$OUT/table.txt"
