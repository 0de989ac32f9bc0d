#!/usr/bin/env bash
# Latency and errors during each kind of fault, side by side with steady state, in one run:
# a supervised 3-shard cluster (R = 2, table split over the nodes), `tessera bench` at
# concurrency 8 for DURATION seconds per row, the fault injected FAULT_AT seconds in:
#   steady        no fault
#   kill-shard    SIGKILL of shard-2 (`tessera up` restarts it; its replicas load again)
#   stop-shard    SIGSTOP of shard-2 for 3 s, then SIGCONT (hang: detected by heartbeats)
#   kill-coord    SIGKILL of the coordinator (up restarts it; it recovers its registry)
# Prints one table (req/s, p50/p99/p999 in us, errors by code). Results in bench/out/faults/.
#   bash bench/faults.sh     # DURATION=10 FAULT_AT=3
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/faults}
DURATION=${DURATION:-10}
FAULT_AT=${FAULT_AT:-3}
WORK=$(mktemp -d /tmp/tessera-faults.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
install_cleanup
bench_begin tessera tessera-node
rm -f "$OUT"/*.json "$OUT"/table.txt

"$BIN/tessera" gen-model "$WORK/model" --buckets 300000 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 5000 11
pick_ports
write_config "$WORK/cluster.toml"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"
tcli --timeout 3600 load "$WORK/model" --name faults --replicas 2 >/dev/null || die "load failed"
tcli status --wait-ready 120 >/dev/null || die "not ready after load"

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$PID_FILE"; }

# row LABEL FAULT: runs the bench, injects FAULT after FAULT_AT seconds, waits for ready.
row() {
  local label=$1 fault=$2 js=$OUT/$1.json pid
  log "row $label"
  "$BIN/tessera" --connect "$GATEWAY" --token "$BENCH_TOKEN" --timeout 30 bench --model faults \
    --concurrency 8 --duration "$DURATION" --json "$INPUT" >"$js" 2>"$WORK/$label.err" &
  local bench=$!
  sleep "$FAULT_AT"
  case $fault in
    none) ;;
    kill-shard) kill -KILL "$(pid_of shard-2)" ;;
    stop-shard)
      pid=$(pid_of shard-2)
      kill -STOP "$pid"
      sleep 3
      kill -CONT "$pid"
      ;;
    kill-coord) kill -KILL "$(pid_of coord)" ;;
  esac
  wait "$bench" || log "bench $label exited non-zero (see $WORK/$label.err)"
  tcli status --wait-ready 120 >/dev/null || die "not ready again after $label"
}

row steady none
row kill-shard kill-shard
row stop-shard stop-shard
row kill-coord kill-coord

{
  printf "%-11s %9s %8s %8s %8s %7s  %s\n" row req/s p50_us p99_us p999_us errors codes
  for r in steady kill-shard stop-shard kill-coord; do
    if [ -s "$OUT/$r.json" ]; then
      jq -r --arg r "$r" '[$r, (.requests_per_s | floor), .latency_us.p50, .latency_us.p99,
        .latency_us.p999, .error_count, (.errors | tostring)] | @tsv' "$OUT/$r.json" |
        awk -F'\t' '{printf "%-11s %9s %8s %8s %8s %7s  %s\n", $1, $2, $3, $4, $5, $6, $7}'
    else
      printf "%-11s (the bench itself failed: %s)\n" "$r" "$(tail -1 "$WORK/$r.err")"
    fi
  done
} | tee "$OUT/table.txt"
