#!/usr/bin/env bash
# Soak: a supervised 3-shard cluster (R = 2) under steady checked load while a shard node is
# killed with SIGKILL every KILL_EVERY seconds (`tessera up` restarts it; the coordinator
# reloads its replicas). Too long for CI; run by hand:
#
#   bash bench/soak.sh            # DURATION=600 KILL_EVERY=30 by default
#
# Every answer is checked: each pass of `tessera predict` over INPUT must print exactly the
# baseline taken before any fault (the served answers, which cluster_itest checks against the
# in-process reference). Reports: passes, lines answered, wrong lines, failed lines, per-kill
# time until status is ready again, the coordinator's RSS at every kill, and its growth from
# after WARMUP seconds of load to the end (it never restarts, so that growth is the leak
# check; shard nodes restart and start over), and node processes left after stop (must be 0).
# Results: bench/out/soak/ (gitignored): summary.txt, kills.tsv, rss.tsv, logs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/soak}
DURATION=${DURATION:-600}
KILL_EVERY=${KILL_EVERY:-30}
WARMUP=${WARMUP:-60}  # seconds of load before the RSS baseline ("warm") is taken
WORK=$(mktemp -d /tmp/tessera-soak.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
install_cleanup

bench_begin tessera tessera-node
rm -f "$OUT"/*.tsv "$OUT"/summary.txt

log "generating a model whose table is split over the nodes"
"$BIN/tessera" gen-model "$WORK/model" --buckets 300000 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 2000 7

pick_ports
write_config "$WORK/cluster.toml"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"
tcli --timeout 3600 load "$WORK/model" --name soak --replicas 2 >/dev/null || die "load failed"
tcli status --wait-ready 120 >/dev/null || die "not ready after load"

tcli predict --model soak --k 3 --format fasttext "$INPUT" >"$WORK/baseline.txt" ||
  die "baseline predict failed"
LINES=$(wc -l <"$INPUT")

rss_of() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pid_of_coord() { awk '$1 == "coord" {print $2}' "$PID_FILE"; }
rss_snapshot() { # LABEL -> rss.tsv lines "label node pid rss_kB"
  local name pid
  while read -r name pid; do echo -e "$1\t$name\t$pid\t$(rss_of "$pid")"; done < <(node_pids)
}

# The checked load: passes of predict over INPUT until $WORK/stop exists.
checker() {
  local pass=0 out rc
  while [ ! -e "$WORK/stop" ]; do
    pass=$((pass + 1))
    out=$WORK/pass.out
    set +e
    tcli --timeout 60 predict --model soak --k 3 --format fasttext "$INPUT" >"$out" \
      2>"$WORK/pass.err"
    rc=$?
    set -e
    # A failed line prints an empty stdout line; a wrong line differs from the baseline.
    paste -d '\t' "$WORK/baseline.txt" "$out" | awk -F'\t' -v p=$pass -v rc=$rc '
      { n++; if ($2 == "") failed++; else if ($1 != $2) wrong++ }
      END { printf "%d\t%d\t%d\t%d\t%d\n", p, rc, n, failed + 0, wrong + 0 }' >>"$WORK/passes.tsv"
  done
}

rss_snapshot start >"$OUT/rss.tsv"
checker &
CHECKER=$!
trap 'touch "$WORK/stop"; kill $CHECKER 2>/dev/null || true; rc=$?; stop_cluster; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

echo -e "kill\tnode\tpid\tready_after_ms\tcoord_rss_kB" >"$OUT/kills.tsv"
start=$(date +%s)
sleep "$WARMUP"
rss_snapshot warm >>"$OUT/rss.tsv"
k=0
while [ $(($(date +%s) - start)) -lt "$((DURATION + WARMUP))" ]; do
  sleep "$KILL_EVERY"
  k=$((k + 1))
  node=shard-$(((k - 1) % 3 + 1))
  pid=$(awk -v n="$node" '$1 == n {print $2}' "$PID_FILE")
  t0=$(date +%s%N)
  kill -KILL "$pid" 2>/dev/null || true
  # Wait until up restarted it (a new pid) and the cluster is ready again.
  for i in $(seq 1 600); do
    now=$(awk -v n="$node" '$1 == n {print $2}' "$PID_FILE")
    if [ -n "$now" ] && [ "$now" != "$pid" ] && tcli status --json 2>/dev/null | jq -e .ready >/dev/null; then
      break
    fi
    sleep 0.1
  done
  t1=$(date +%s%N)
  echo -e "$k\t$node\t$pid\t$(((t1 - t0) / 1000000))\t$(rss_of "$(pid_of_coord)")" >>"$OUT/kills.tsv"
  log "kill $k: $node ($pid) -> ready again after $(((t1 - t0) / 1000000)) ms"
done
touch "$WORK/stop"
wait $CHECKER || true
rss_snapshot end >>"$OUT/rss.tsv"
cp "$WORK/passes.tsv" "$OUT/passes.tsv"
NODE_PIDS=$(node_pids | awk '{print $2}')
stop_cluster
left=0
for p in $NODE_PIDS; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
left=$((left + $(pgrep -f "$WORK/cluster.toml" | wc -l || true)))

{
  echo "soak: ${DURATION}s, a shard node killed every ${KILL_EVERY}s (R = 2), $LINES lines per pass"
  awk -F'\t' '{p++; n += $3; f += $4; w += $5} END {
    printf "passes %d, lines answered %d, failed lines %d, wrong lines %d\n", p, n - f, f, w }' \
    "$OUT/passes.tsv"
  awk -F'\t' 'NR > 1 {k++; s += $4; if ($4 > m) m = $4} END {
    printf "kills %d, ready again after %.0f ms on average (max %d ms)\n", k, k ? s / k : 0, m }' \
    "$OUT/kills.tsv"
  awk -F'\t' '$2 == "coord" {r[$1] = $4} END {
    printf "coordinator RSS: %d kB at start, %d kB after %ds of load, %d kB at the end (%+.1f%% since warm)\n",
      r["start"], r["warm"], '"$WARMUP"', r["end"],
      r["warm"] ? 100 * (r["end"] - r["warm"]) / r["warm"] : 0 }' "$OUT/rss.tsv"
  echo "node processes left after stop: $left"
} | tee "$OUT/summary.txt"
