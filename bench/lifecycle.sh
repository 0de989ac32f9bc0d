#!/usr/bin/env bash
# Lifecycle figures (issue "Model lifecycle"): time for a swap, p99 latency during a swap
# against steady state, and RSS per node before/after load and unload against shard bytes.
#
#   bash bench/lifecycle.sh [BUCKETS]    (default 1,000,000 buckets: a ~257 MB table)
#
# Runs a private 3-shard cluster (ports 17300+), single-input requests at concurrency 8.
# Needs jq. Load times are with the package in the page cache (it was just generated).
# Every process it starts is stopped by pid (trap), also on error.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/bin}
WORK=$(mktemp -d /tmp/tessera-lifecycle.XXXXXX)
BUCKETS=${1:-1000000}
source bench/lib.sh
snapshot_bins tessera tessera-node
install_cleanup

log "generating v1, v2 (new embedder and head) and v3 (new head only) with $BUCKETS buckets"
"$BIN/tessera" gen-model "$WORK/v1" --buckets "$BUCKETS" --seed 42 2>/dev/null
"$BIN/tessera" gen-model "$WORK/v2" --buckets "$BUCKETS" --seed 43 2>/dev/null
"$BIN/tessera" gen-model "$WORK/v3" --buckets "$BUCKETS" --seed 42 --classifier-seed 7 \
  --classifier-version 2 2>/dev/null
# Inputs with words of both vocabularies, so every version has features.
paste -d' ' <(shuf -n 5000 --random-source=<(yes) -r "$WORK/v1/vocab.txt") \
  <(shuf -n 5000 --random-source=<(yes) -r "$WORK/v2/vocab.txt") \
  <(shuf -n 5000 --random-source=<(yes 1) -r "$WORK/v1/vocab.txt") >"$WORK/input.txt"

pick_ports
write_config "$WORK/cluster.toml"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"

members() {  # name used_bytes rss_bytes per shard node
  tcli status --json | jq -r '.members[] | "\(.name) \(.used_bytes) \(.rss_bytes)"'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

members >"$WORK/rss.idle"
t0=$(now)
load_model "$WORK/v1" m
t_load_v1=$(elapsed "$t0" "$(now)")
members >"$WORK/rss.loaded"

bench_json() {  # DURATION OUT: single-input predict load at concurrency 8
  "$BIN/tessera" --connect "$GATEWAY" --token "$BENCH_TOKEN" bench --model m --concurrency 8 \
    --batch 1 --duration "$1" --warmup 1 --json "$WORK/input.txt" >"$2"
}

log "steady state"
bench_json 8 "$WORK/steady.json"

log "swaps under load"
bench_json 20 "$WORK/swap.json" &
BENCH_PID=$!
sleep 3
t0=$(now)
tcli --timeout 3600 load "$WORK/v2" --name m --activate >/dev/null
t_swap_full=$(elapsed "$t0" "$(now)")
sleep 2
t0=$(now)
tcli rollback m >/dev/null
t_rollback=$(elapsed "$t0" "$(now)")
sleep 2
t0=$(now)
tcli --timeout 3600 load "$WORK/v3" --name m --activate >/dev/null
t_swap_head=$(elapsed "$t0" "$(now)")
sleep 2
t0=$(now)
tcli activate m 2 >/dev/null
t_activate=$(elapsed "$t0" "$(now)")
wait "$BENCH_PID"
members >"$WORK/rss.three"

log "unload"
tcli unload m >/dev/null
for i in $(seq 1 40); do
  [ "$(tcli status --json | jq '[.members[].used_bytes] | add')" = 0 ] && break
  sleep 0.25
done
members >"$WORK/rss.unloaded"

echo
echo "== swap times (wall, CLI round trip included)"
printf '%-48s %6s s\n' "load v1 (257 MB table, page cache warm)" "$t_load_v1" \
  "load v2 + activate (new embedder and head)" "$t_swap_full" \
  "rollback to v1 (flip)" "$t_rollback" \
  "load v3 + activate (new head, shared embedder)" "$t_swap_head" \
  "activate v2 (flip)" "$t_activate"
echo
echo "== single-input predict, concurrency 8"
printf '%-22s %10s %10s %10s %10s %8s\n' phase req/s p50_us p99_us p999_us errors
for f in steady swap; do
  jq -r --arg f "$f" '[$f, (.requests_per_s|floor), .latency_us.p50, .latency_us.p99,
      .latency_us.p999, .error_count] | @tsv' "$WORK/$f.json" |
    awk -F'\t' '{ printf "%-22s %10s %10s %10s %10s %8s\n", $1, $2, $3, $4, $5, $6 }'
done
echo
echo "== RSS per node (MiB): idle, v1 loaded, v1+v2+v3 loaded, after unload; shard bytes"
printf '%-8s %8s %8s %10s %10s %10s %12s\n' node idle v1 shards_v1 all3 shards_all unloaded
join <(sort "$WORK/rss.idle") <(sort "$WORK/rss.loaded") | join - <(sort "$WORK/rss.three") |
  join - <(sort "$WORK/rss.unloaded") |
  while read -r n _ ri u1 r1 u3 r3 _ ru; do
    printf '%-8s %8s %8s %10s %10s %10s %12s\n' "$n" "$(mib "$ri")" "$(mib "$r1")" "$(mib "$u1")" \
      "$(mib "$r3")" "$(mib "$u3")" "$(mib "$ru")"
  done
echo
uptime
