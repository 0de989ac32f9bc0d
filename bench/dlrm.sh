#!/usr/bin/env bash
# A DLRM-shaped model served by tessera on 3 shard nodes vs the same model in PyTorch, in one
# run on the same cores (docs/MODELS.md, "Benchmark").
#
#   1. tests/torch/make_model.py: 3 F32 tables of ROWS x 64 (user sum, item mean, ctx max;
#      3 x 1,400,000 x 64 x 4 B = 1.07 GB by default), MLP 192 -> 64 relu -> 1, sigmoid output
#      (a CTR model); INPUTS lines of 10-40 ids per table (every fifth line has one empty
#      bag), and PyTorch's answers to each
#   2. tessera import safetensors -> a package
#   3. PyTorch in this host's python3 (bench/torch_dlrm.py), no cluster running: checks its
#      answers to the first 100 lines against make_model.py's, then with torch.set_num_threads
#      1 and 2: one input per forward, and 256 per forward; DURATION s each after 1 s warmup
#   4. a private 3-shard cluster (free ports >= 17300), the package loaded; each table's row
#      ranges printed, and a table over 16 MiB must be split into 3 (placement splits those
#      over every node with room); `tessera predict --input ids` on the first 100 lines
#      checked against PyTorch's answers; then `tessera bench --input ids`: single lines at
#      concurrency 32, batches of 256 at concurrency BATCH_CONC; DURATION s each after 1 s warmup
#   5. one table: lines/s, latency, CPU cores used, tessera / PyTorch ratios, peak RSS
#
# Env: ROWS (rows per table, default 1400000), INPUTS (lines, default 10000), DURATION (s per
#      row, default 10), BATCH_CONC (default 2), BENCH_CONNECTIONS (default 1: client
#      connections per tessera row), KEEP=1 keeps scratch (the model twice: 2.2 GB by default).
# Results: bench/out/dlrm/ (gitignored): table.txt, rows.tsv, torch.json, bench JSON, logs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/dlrm}
ROWS=${ROWS:-1400000}
INPUTS=${INPUTS:-10000}
DURATION=${DURATION:-10}
BATCH_CONC=${BATCH_CONC:-2}
DIM=64
CHECK=100
WORK=$(mktemp -d /tmp/tessera-dlrm.XXXXXX)
export BENCH_SHARD_BUDGET=${BENCH_SHARD_BUDGET:-8GiB}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

install_cleanup
bench_begin tessera tessera-node
PY=/usr/bin/python3
$PY -c 'import torch' 2>/dev/null || die "$PY cannot import torch (Debian: python3-torch)"
rm -f "$OUT"/*.json "$OUT"/rows.tsv "$OUT"/table.txt

MODEL=$WORK/model
TABLE_BYTES=$((ROWS * DIM * 4))
log "making the model: 3 tables of $ROWS x $DIM, $INPUTS input lines, PyTorch's answers"
$PY "$ROOT/tests/torch/make_model.py" "$MODEL" --seed 1 --dtype F32 --output sigmoid \
  --table "user:$ROWS:$DIM:sum" --table "item:$ROWS:$DIM:mean" --table "ctx:$ROWS:$DIM:max" \
  --layer 64:relu --layer 1:none --labels click --inputs "$INPUTS" --min-ids 10 --max-ids 40 \
  2>"$WORK/make_model.err" || {
  cat "$WORK/make_model.err" >&2
  die "make_model.py failed"
}
log "importing"
"$BIN/tessera" import safetensors "$MODEL/model.safetensors" --spec "$MODEL/spec.toml" \
  "$WORK/pkg" --name dlrm >"$WORK/import.out" 2>"$WORK/import.err" || {
  cat "$WORK/import.err" >&2
  die "import failed"
}
ST_BYTES=$(stat -c %s "$MODEL/model.safetensors")
PKG_BYTES=$(du -sb "$WORK/pkg" | cut -f1)

log "PyTorch: check on $CHECK lines, then 1 and 2 threads, single and batch 256, ${DURATION}s each"
$PY "$ROOT/bench/torch_dlrm.py" "$MODEL" --seconds "$DURATION" --warmup 1 --threads 1,2 \
  --batch 256 --check "$CHECK" >"$OUT/torch.json" || die "torch_dlrm.py failed"

pick_ports
write_config "$WORK/cluster.toml"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"
log "loading the package"
load_model "$WORK/pkg" dlrm

# Each table's row ranges ("tensor begin end bytes nodes" lines, in row order).
tcli status --json | jq -r '.models[] | select(.name == "dlrm") | .versions[]
  | select(.state == "serving") | .shards[] | select(.tensor | startswith("embedder."))
  | "\(.tensor) \(.row_begin) \(.row_end) \(.bytes) \([.replicas[].node] | join(","))"' |
  sort -k1,1 -k2,2n >"$OUT/ranges.txt"
SPLIT=""
for t in user item ctx; do
  n=$(awk -v t="embedder.$t" '$1 == t' "$OUT/ranges.txt" | wc -l)
  # The ranges must tile [0, ROWS).
  awk -v t="embedder.$t" -v rows="$ROWS" '$1 == t { if ($2 != end) bad = 1; end = $3 }
    END { exit (bad || end != rows) }' "$OUT/ranges.txt" ||
    die "table $t: ranges do not cover [0, $ROWS): $(cat "$OUT/ranges.txt")"
  if [ "$TABLE_BYTES" -gt $((16 << 20)) ] && [ "$n" != 3 ]; then
    die "table $t ($TABLE_BYTES bytes) is in $n ranges, not 3: $(cat "$OUT/ranges.txt")"
  fi
  SPLIT="$SPLIT $t:$n"
done
[ "$TABLE_BYTES" -gt $((16 << 20)) ] || SPLIT="$SPLIT (tables of 16 MiB or less are not split)"
log "ranges per table:$SPLIT"
sed 's/^/  /' "$OUT/ranges.txt" >&2

log "checking tessera's answers to the first $CHECK lines against PyTorch's"
head -n "$CHECK" "$MODEL/inputs.txt" >"$WORK/check.txt"
tcli predict --model dlrm --input ids --k -1 --format json "$WORK/check.txt" \
  >"$WORK/check.out" || die "predict failed"
TESSERA_DIFF=$($PY - "$WORK/check.out" "$MODEL/expected.json" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = json.load(open(sys.argv[2]))["scores"]
worst = 0.0
for i, g in enumerate(got):
    if len(g["labels"]) != len(want[i]):
        sys.exit("line %d: %d labels, want %d" % (i + 1, len(g["labels"]), len(want[i])))
    for l in g["labels"]:
        w = want[i][l["index"]]
        d = abs(l["prob"] - w)
        if d > 1e-5 * abs(w) + 1e-6:
            sys.exit("line %d: label %s: %r, PyTorch %r" % (i + 1, l["label"], l["prob"], w))
        worst = max(worst, d)
print("%.3g" % worst)
PY
) || die "tessera's answers differ from PyTorch's"

TSV=$OUT/rows.tsv
: >"$TSV"
export BENCH_INPUT=ids
bench_row "$TSV" "single-c32" dlrm "$MODEL/inputs.txt" 32 1 "$DURATION"
bench_row "$TSV" "batch256-c$BATCH_CONC" dlrm "$MODEL/inputs.txt" "$BATCH_CONC" 256 "$DURATION"
peak_rss_table >"$OUT/rss.txt"
stop_cluster
cp "$WORK"/bench.*.json "$OUT"/
cp -r "$WORK/cluster/logs" "$OUT/logs" 2>/dev/null || true

{
  echo "DLRM-shaped model: tessera (coordinator + 3 shards, 1 host) vs PyTorch $($PY -c \
    'import torch; print(torch.__version__)') in-process, $(nproc) cores"
  echo "model: 3 F32 tables of $ROWS x $DIM (user sum, item mean, ctx max) = $((3 * TABLE_BYTES / 1000000)) MB;" \
    "MLP 192-64 relu-1, sigmoid; safetensors $((ST_BYTES / 1000000)) MB, package $((PKG_BYTES / 1000000)) MB"
  echo "input: $INPUTS lines, 10-40 ids per table (every fifth line one empty bag), cycled;" \
    "ranges per table:$SPLIT"
  echo "checked on the first $CHECK lines against make_model.py's PyTorch answers: tessera max |diff|" \
    "$TESSERA_DIFF, torch_dlrm $(printf %.3g "$(jq .check.max_abs_diff "$OUT/torch.json")")"
  echo "load: $(uptime | sed 's/.*load average/load average/'); tessera connections per row: ${BENCH_CONNECTIONS:-1}"
  $PY - "$TSV" "$OUT/torch.json" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    label, conc, batch = f[0], int(f[1]), int(f[2])
    rows.append({"row": "tessera " + label.replace("-", " "), "batch": batch,
                 "ips": float(f[4]), "p50": int(f[5]), "p99": int(f[6]), "errs": int(f[8]),
                 "cores": float(f[10]) + float(f[11]) + float(f[12]), "tessera": True})
torch_rows = json.load(open(sys.argv[2]))["rows"]
for r in torch_rows:
    t = r["threads"]
    rows.append({"row": "torch %d thread%s %s" % (t, "" if t == 1 else "s",
                                                  "single" if r["batch"] == 1 else
                                                  "batch%d" % r["batch"]),
                 "batch": r["batch"], "ips": r["inputs_per_s"], "p50": r["latency_us"]["p50"],
                 "p99": r["latency_us"]["p99"], "errs": 0, "cores": r["cores"],
                 "tessera": False})
def torch_ips(threads, batch):
    return next((r["inputs_per_s"] for r in torch_rows
                 if r["threads"] == threads and r["batch"] == batch), 0)
print("%-24s %11s %9s %9s %5s %6s %10s %10s" % ("row", "lines/s", "p50_us", "p99_us", "errs",
                                                 "cores", "/torch 1t", "/torch 2t"))
for r in rows:
    ratios = ["-", "-"]
    if r["tessera"]:
        ratios = ["%.2f" % (r["ips"] / t) if t else "-"
                  for t in (torch_ips(1, r["batch"]), torch_ips(2, r["batch"]))]
    print("%-24s %11.1f %9d %9d %5d %6.2f %10s %10s" % (r["row"], r["ips"], r["p50"], r["p99"],
                                                        r["errs"], r["cores"], *ratios))
PY
  echo "latency: tessera per call (one line or one batch, concurrent calls); torch per forward"
  echo "  (one at a time). cores = CPU s / wall s: tessera coordinator + 3 shards + bench client"
  echo "  (incl. 1 s warmup), torch its process. /torch = tessera lines/s over torch's, same batch."
  echo "peak RSS (VmHWM, MB): $(awk '{printf "%s %.0f  ", $1, $3 / 1024}' "$OUT/rss.txt")torch_dlrm" \
    "$(jq '.peak_rss_kb / 1024 | floor' "$OUT/torch.json")"
} | tee "$OUT/table.txt"
