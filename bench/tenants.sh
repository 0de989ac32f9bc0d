#!/usr/bin/env bash
# Does priority shedding keep a high-priority tenant's latency while a low-priority tenant
# floods? Two tenants on one cluster, the same model loaded by each: "hi" (priority high) runs
# single inputs at concurrency 2; "lo" (priority low) floods at concurrency 64 in the
# background. Modes, side by side, rounds interleaved:
#   shed     [limits] capacity = 16: low-priority calls are refused from 8 running
#   noshed   capacity = 100000: nothing is shed
# With FLOOD=huge, "lo" instead sends calls of 1,024 texts of about 2 KB at concurrency 6 (few
# calls, much work each), and the modes are:
#   weighed  [limits] capacity_inputs = $CAPACITY_INPUTS (default 4096, the config's default):
#            shedding weighs calls by their inputs
#   counted  capacity_inputs = 100000000: calls are counted only (6 calls are never shed)
# Rows per mode: hi alone, hi during the flood (and the flood's own figures).
#
# Env: DURATION (s per row, default 10), ROUNDS (default 2), FLOOD (default "calls", or
# "huge"), CAPACITY_INPUTS (FLOOD=huge), KEEP=1 keeps scratch.
# Results: bench/out/tenants/ (gitignored): table.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/tenants}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
FLOOD=${FLOOD:-calls}
CAPACITY_INPUTS=${CAPACITY_INPUTS:-4096}
WORK=$(mktemp -d /tmp/tessera-bench-tenants.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

FLOOD_PID=""
stop_flood() {
  if [ -n "$FLOOD_PID" ]; then
    wait "$FLOOD_PID" 2>/dev/null || true
    FLOOD_PID=""
  fi
}
trap 'rc=$?; [ -n "$FLOOD_PID" ] && kill "$FLOOD_PID" 2>/dev/null; stop_cluster; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
trap 'exit 130' INT TERM

bench_begin tessera tessera-node
mkdir -p "$OUT"

log "generating the model in $WORK/model"
"$BIN/tessera" gen-model "$WORK/model" 2>"$WORK/gen.err" || die "gen-model failed"
INPUT=$WORK/input.txt
words_input "$WORK/model/vocab.txt" "$INPUT" 10000 20241130
HUGE=$WORK/huge.txt  # lines of about 2 KB: the inputs of the huge flood
awk '{ line = line $0 " " } length(line) >= 2000 { print line; line = "" }' "$INPUT" "$INPUT" \
  "$INPUT" "$INPUT" "$INPUT" "$INPUT" "$INPUT" "$INPUT" >"$HUGE"

tenant_tokens() {
  local t
  for t in hi lo; do
    printf '\n[[tokens]]\n'
    printf '%s\n' "tenant-$t-secret" | "$BIN/tessera" token hash
    printf 'name = "%s"\nadmin = true\nmodels = ["*"]\ntenant = "%s"\n' "$t" "$t"
  done
  printf '\n[[tenants]]\nname = "hi"\npriority = "high"\npackage_root = "%s"\n' "$WORK"
  printf '\n[[tenants]]\nname = "lo"\npriority = "low"\npackage_root = "%s"\n' "$WORK"
}

as() { local t=$1; shift; "$BIN/tessera" --connect "$GATEWAY" --token "tenant-$t-secret" "$@"; }

# run_bench TENANT CONC DURATION OUT_JSON [BATCH INPUT]
run_bench() {
  as "$1" bench --model m --concurrency "$2" --duration "$3" --warmup 1 --batch "${5:-1}" \
    --json "${6:-$INPUT}" >"$4" || die "bench $1 failed"
}

row() {  # MODE ROUND ROW JSON
  jq -r --arg m "$1" --arg r "$2" --arg row "$3" \
    '[$m, $r, $row, (.requests_per_s // .req_per_s // 0), (.latency_us.p50 // 0), (.latency_us.p99 // 0), ((.errors // {}) | to_entries | map(.value) | add // 0)] | @tsv' "$4"
}

TSV=$OUT/rows.tsv
: >"$TSV"
for round in $(seq 1 "$ROUNDS"); do
  if [ "$FLOOD" = huge ]; then MODES="weighed counted"; else MODES="shed noshed"; fi
  for mode in $MODES; do
    pick_ports
    case $mode in
      shed) BENCH_LIMITS_EXTRA="capacity = 16" ;;
      noshed) BENCH_LIMITS_EXTRA="capacity = 100000" ;;
      weighed) BENCH_LIMITS_EXTRA="capacity_inputs = $CAPACITY_INPUTS" ;;
      counted) BENCH_LIMITS_EXTRA="capacity_inputs = 100000000" ;;
    esac
    export BENCH_LIMITS_EXTRA
    write_config "$WORK/cluster.toml"
    tenant_tokens >>"$WORK/cluster.toml"
    start_cluster "$WORK/cluster.toml" "$WORK/cluster-$mode-$round"
    for t in hi lo; do as $t --timeout 3600 load "$WORK/model" --name m >/dev/null || die "load $t"; done
    run_bench hi 2 "$DURATION" "$WORK/alone.json"
    row "$mode" "$round" hi-alone "$WORK/alone.json" >>"$TSV"
    if [ "$FLOOD" = huge ]; then
      run_bench lo 6 $((DURATION + 2)) "$WORK/flood.json" 1024 "$HUGE" &
    else
      run_bench lo 64 $((DURATION + 2)) "$WORK/flood.json" &
    fi
    FLOOD_PID=$!
    sleep 1
    run_bench hi 2 "$DURATION" "$WORK/busy.json"
    stop_flood
    row "$mode" "$round" hi-during-flood "$WORK/busy.json" >>"$TSV"
    row "$mode" "$round" lo-flood "$WORK/flood.json" >>"$TSV"
    stop_cluster
  done
done

{
  if [ "$FLOOD" = huge ]; then
    echo "work-weighed shedding (weighed: capacity_inputs = $CAPACITY_INPUTS): tenant hi (high, concurrency 2) alone and while tenant lo (low) sends 6 concurrent calls of 1,024 x 2 KB texts"
  else
    echo "priority shedding: tenant hi (high, concurrency 2) alone and while tenant lo (low, concurrency 64) floods"
  fi
  echo "model: gen-model defaults; single inputs; ${DURATION}s per row; $ROUNDS rounds interleaved; 3 shards, 1 host, 2 cores"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  printf '%-7s %5s %-16s %9s %8s %8s %8s\n' mode round row req/s p50_us p99_us errors
  sort -s -t$'\t' -k1,1 -k3,3 "$TSV" | awk -F'\t' '{printf "%-7s %5d %-16s %9.1f %8d %8d %8d\n", $1, $2, $3, $4, $5, $6, $7}'
} | tee "$OUT/table.txt"
