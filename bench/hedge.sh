#!/usr/bin/env bash
# What do hedged requests buy when one replica is slow? The same generated model (R=2 over 3
# shard nodes) and inputs served with [hedging] on (the default) and off, side by side in one
# run, rounds interleaved (hedge, nohedge, hedge, nohedge) so drift hits both alike.
#
# A "slow replica": shard-2 is paused with SIGSTOP for PAUSE_MS out of every PERIOD_MS (GC-like
# stalls). connection_timeout_ms is 5000, so it is never declared down: without hedging, a
# sub-request routed to it waits for the pause to end.
#
#   rows per mode: steady (no pauses) and slow (pauses), single inputs at concurrency 8
#
# Env: DURATION (s per row, default 10), ROUNDS (default 2), PAUSE_MS (100), PERIOD_MS (500),
# KEEP=1 keeps scratch. Results: bench/out/hedge/ (gitignored): table.txt, rows.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/hedge}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
PAUSE_MS=${PAUSE_MS:-100}
PERIOD_MS=${PERIOD_MS:-500}
WORK=$(mktemp -d /tmp/tessera-bench-hedge.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

PAUSER_PID=""
VICTIM_PID=""
stop_pauser() {
  if [ -n "$PAUSER_PID" ]; then
    kill "$PAUSER_PID" 2>/dev/null || true
    wait "$PAUSER_PID" 2>/dev/null || true
    PAUSER_PID=""
  fi
  [ -n "$VICTIM_PID" ] && kill -CONT "$VICTIM_PID" 2>/dev/null || true
}
trap 'rc=$?; stop_pauser; stop_cluster; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
trap 'exit 130' INT TERM

bench_begin tessera tessera-node

log "generating the model in $WORK/model"
"$BIN/tessera" gen-model "$WORK/model" 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 10000 20240602

load_r2() {
  local i st
  tcli --timeout 3600 load "$WORK/model" --name served --replicas 2 >/dev/null || die "load failed"
  for i in $(seq 1 2400); do
    st=$(tcli status --json | jq -r '.models[] | select(.name == "served") | .versions[] | .state' | head -1)
    [ "$st" = serving ] && return 0
    sleep 0.25
  done
  die "model not serving"
}

# start_pauser PID: SIGSTOP for PAUSE_MS out of every PERIOD_MS, until stop_pauser.
start_pauser() {
  VICTIM_PID=$1
  local pause rest
  pause=$(awk -v p="$PAUSE_MS" 'BEGIN { printf "%.3f", p / 1000 }')
  rest=$(awk -v p="$PAUSE_MS" -v q="$PERIOD_MS" 'BEGIN { printf "%.3f", (q - p) / 1000 }')
  (
    trap 'kill -CONT '"$VICTIM_PID"' 2>/dev/null; exit 0' TERM
    while true; do
      kill -STOP "$VICTIM_PID" 2>/dev/null || exit 0
      sleep "$pause"
      kill -CONT "$VICTIM_PID" 2>/dev/null || exit 0
      sleep "$rest"
    done
  ) &
  PAUSER_PID=$!
}

hedges() { tcli status --json | jq -r '"\(.hedges_sent) \(.hedges_won)"'; }

TSV=$OUT/rows.tsv
: >"$TSV"
for round in $(seq 1 "$ROUNDS"); do
  for mode in hedge nohedge; do
    pick_ports
    write_config "$WORK/cluster.toml"
    printf '\n[hedging]\nenabled = %s\n' "$([ $mode = hedge ] && echo true || echo false)" \
      >>"$WORK/cluster.toml"
    start_cluster "$WORK/cluster.toml" "$WORK/cluster-$mode-$round"
    load_r2
    for load in steady slow; do
      victim=$(awk '$1 == "shard-2" { print $2 }' "$PID_FILE")
      [ "$load" = slow ] && start_pauser "$victim"
      read -r hs0 hw0 < <(hedges)
      bench_row "$WORK/rows.raw" "$mode-$load" served "$INPUT" 8 1 "$DURATION"
      stop_pauser
      read -r hs1 hw1 < <(hedges)
      tail -1 "$WORK/rows.raw" | awk -v s=$((hs1 - hs0)) -v w=$((hw1 - hw0)) -v r="$round" \
        'BEGIN { OFS = "\t" } { print $0, s, w, r }' >>"$TSV"
    done
    stop_cluster
  done
done

{
  echo "hedged requests, one slow replica (shard-2 stopped ${PAUSE_MS} ms of every ${PERIOD_MS} ms), R=2 over 3 shards, 1 host, 2 cores"
  echo "model: gen-model defaults, 205000 x 64, relu 32, 8 labels; single inputs, concurrency 8, ${DURATION}s per row, $ROUNDS rounds interleaved"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  printf '%-16s %5s %9s %8s %8s %8s %6s %9s %8s\n' row round req/s p50_us p99_us p999_us errs hedges won
  sort -s -t$'\t' -k1,1 "$TSV" | awk -F'\t' '{printf "%-16s %5d %9.1f %8d %8d %8d %6d %9d %8d\n",
    $1, $16, $4, $6, $7, $8, $9, $14, $15}'
} | tee "$OUT/table.txt"
