#!/usr/bin/env bash
# The trust-boundary issue's memory scenario, at any scale: a table of GB gigabytes loaded with
# --exact-pooling over four shard nodes whose memory_budget is BUDGET, a coordinator with a
# budget of its own, then exact-pooling traffic (batches of 16 at concurrency 8 for 10 s).
# Prints every process's peak resident memory (VmHWM, from /proc) against its budget, the
# load's time, and what status reports (replica bytes, measured overhead).
#
#   bash bench/memory.sh [GB] [BUDGET] [COORD_BUDGET]   (default 4, "1.4GB", "1GB")
#
# The issue measured, before memory_budget counted the process and the read scratch: every
# shard node's peak at 1.44-1.63 GB on 1.4 GB budgets and the coordinator at 1.3-2 GB.
# Needs jq and GB * 1.1 of free disk in /tmp. Every process it starts is stopped by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/bin}
WORK=$(mktemp -d /tmp/tessera-memory.XXXXXX)
GB=${1:-4}
export BENCH_SHARD_BUDGET=${2:-1.4GB}
export BENCH_COORD_BUDGET=${3:-1GB}
source bench/lib.sh
snapshot_bins tessera tessera-node
install_cleanup

dim=64
rows=$(awk -v g="$GB" -v d="$dim" 'BEGIN { printf "%d", g * 1e9 / (d * 4) }')
log "generating a $GB GB table: $rows rows x $dim"
"$BIN/tessera" gen-model "$WORK/m" --buckets "$rows" --dim "$dim" --seed 5 2>/dev/null
words_input "$WORK/m/vocab.txt" "$WORK/input.txt" 2000 7

pick_ports
write_config "$WORK/cluster.toml" 4
start_cluster "$WORK/cluster.toml" "$WORK/cluster"

t0=$(date +%s.%N)
if tcli --timeout 3600 load "$WORK/m" --name m --exact-pooling >"$WORK/load.out" 2>"$WORK/load.err"; then
  load_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "loaded in $load_s s"
  "$BIN/tessera" --connect "$GATEWAY" --token "$BENCH_TOKEN" $(client_tls_flags) bench \
    --model m --concurrency 8 --batch 16 --duration 10 --warmup 1 --json "$WORK/input.txt" \
    >"$WORK/bench.json" 2>"$WORK/bench.err" || log "bench failed: $(tail -1 "$WORK/bench.err")"
  [ -s "$WORK/bench.json" ] && jq -c '{ok, error_count, errors, requests_per_s, p99_us: .latency_us.p99}' "$WORK/bench.json" 2>/dev/null || true
else
  log "load refused or failed: $(tail -1 "$WORK/load.err")"
fi

echo
echo "table $GB GB, shard budget $BENCH_SHARD_BUDGET, coordinator budget $BENCH_COORD_BUDGET"
printf '%-8s %14s %14s %14s\n' node peak_MB now_MB budget_MB
budget_of() {
  awk -v n="$1" '/^name = /{gsub(/"/,"",$3); cur=$3} /^memory_budget/{gsub(/"/,"",$3); if (cur==n) print $3}' \
    "$WORK/cluster.toml"
}
while read -r name pid; do
  hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  printf '%-8s %14.1f %14.1f %14s\n' "$name" "$(awk -v k="$hwm" 'BEGIN{print k*1024/1e6}')" \
    "$(awk -v k="$rss" 'BEGIN{print k*1024/1e6}')" "$(budget_of "$name")"
done < <(node_pids)
echo
tcli status --json | jq -r '.members[] | "\(.name): replicas \(.used_bytes / 1e6 | floor) MB, overhead \(.overhead_bytes / 1e6 | floor) MB, rss \(.rss_bytes / 1e6 | floor) MB"'
tcli status --json | jq -r '.coordinator | "coordinator: rss \(.rss_bytes / 1e6 | floor) MB, refused for memory \(.refused_memory)"'
