#!/usr/bin/env bash
# Issue 3: tessera serving imported fastText models vs `fasttext predict-prob`.
#
#   1. a labelled corpus (>= 50,000 lines), offline: one line per Debian package from
#      `apt-cache dumpavail`, "__label__<Section> <description, lowercased>"; topped up from
#      /usr/share/doc/*/copyright lines (labelled by directory), then deterministic word
#      shuffles, if the package lists are short
#   2. two models, `fasttext supervised -thread 1 -seed 1`:
#        word-only: dim 32, bucket 200000, minn/maxn 0/0, wordNgrams 2
#        subword:   dim 64, bucket 2000000, minn/maxn 3/5, wordNgrams 2
#   3. 100,000 input lines: the corpus text without labels, cycled
#   4. per model: `fasttext predict-prob MODEL.bin INPUT 1 >/dev/null` lines/s (1 thread, wall
#      clock, best of 2; the model load time is measured apart too), `tessera import fasttext`,
#      a fresh private 3-shard cluster, tessera bench --batch 256 --concurrency 2 and single
#      lines at --concurrency 32, parity of `tessera predict --format fasttext --k 1` with
#      predict-prob on the first 2,000 lines, then every node's VmHWM vs its shard bytes;
#      parity again on a 1-shard cluster (3 shards add partial pooled sums in shard order, so
#      the last printed digit may differ: docs/ARCHITECTURE.md; 1 shard must be byte-identical)
#   5. one table
#
# Env: DURATION (s per bench row, default 10), KEEP=1 keeps the scratch dir (several GB).
# Results: bench/out/fasttext/ (gitignored, small files only): table.txt, rows.tsv, JSON.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/bench/out/fasttext}
DURATION=${DURATION:-10}
WORK=$(mktemp -d /tmp/tessera-fasttext.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

install_cleanup

for b in tessera tessera-node; do
  [ -x "$BIN/$b" ] || die "$BIN/$b missing: build first (cmake --build build -j2)"
done
# Others rebuild build/ while we run: work on a snapshot of the binaries.
snapshot_bins tessera tessera-node
for c in fasttext jq python3 apt-cache; do command -v $c >/dev/null || die "$c is required"; done
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.tsv "$OUT"/table.txt "$OUT"/parity.txt*

# ---- 1. corpus -------------------------------------------------------------------------------
CORPUS=$WORK/corpus.txt
log "building the corpus from apt-cache dumpavail"
apt-cache dumpavail | python3 -c '
import sys
seen, pkg, sec, desc = set(), None, None, None
def flush():
    if pkg and sec and desc and pkg not in seen:
        seen.add(pkg)
        text = " ".join(desc.lower().split())
        if text:
            print("__label__" + sec.replace(" ", "_") + " " + text)
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        flush(); pkg = sec = desc = None
    elif line.startswith("Package: "): pkg = line[9:].strip()
    elif line.startswith("Section: "): sec = line[9:].strip()
    elif line.startswith("Description: "): desc = line[13:]
flush()
' >"$CORPUS"
N=$(wc -l <"$CORPUS")
log "dumpavail: $N lines"
SOURCE="apt-cache dumpavail ($N packages)"
if [ "$N" -lt 50000 ]; then
  log "fewer than 50,000: adding /usr/share/doc/*/copyright lines, then word shuffles"
  python3 - "$CORPUS" <<'EOF'
import glob, os, random, sys
path = sys.argv[1]
lines = [l.rstrip("\n") for l in open(path, encoding="utf-8")]
for f in sorted(glob.glob("/usr/share/doc/*/copyright")):
    if len(lines) >= 50000: break
    label = "__label__doc-" + os.path.basename(os.path.dirname(f)).replace(" ", "_")
    try:
        for t in open(f, encoding="utf-8", errors="replace"):
            t = " ".join(t.lower().split())
            if len(t.split()) >= 3: lines.append(label + " " + t)
    except OSError:
        pass
rng = random.Random(7)
base = list(lines)
while len(lines) < 50000 and base:
    lab, *words = rng.choice(base).split(" ")
    rng.shuffle(words)
    lines.append(" ".join([lab] + words))
open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")
EOF
  N=$(wc -l <"$CORPUS")
  SOURCE="$SOURCE + copyright/shuffles ($N lines)"
fi
[ "$N" -ge 50000 ] || die "corpus has only $N lines"
LABELS=$(cut -d' ' -f1 "$CORPUS" | sort -u | wc -l)
log "corpus: $N lines, $LABELS labels"

# ---- 3. input: the texts without labels, cycled to 100,000 lines ----------------------------
INPUT=$WORK/input.txt
cut -d' ' -f2- "$CORPUS" | awk -v n=100000 '{l[NR]=$0} END{for(i=0;i<n;i++) print l[i%NR+1]}' \
  >"$INPUT"
head -n 2000 "$INPUT" >"$WORK/input2k.txt"
head -n 1 "$INPUT" >"$WORK/input1.txt"

# ---- 2. training -----------------------------------------------------------------------------
train() { # name dim bucket minn maxn
  local t0 t1
  t0=$(date +%s.%N)
  fasttext supervised -input "$CORPUS" -output "$WORK/$1" -dim "$2" -bucket "$3" -minn "$4" \
    -maxn "$5" -wordNgrams 2 -thread 1 -seed 1 -verbose 0 || die "training $1 failed"
  t1=$(date +%s.%N)
  log "trained $1 in $(echo "$t1 - $t0" | bc -l | cut -c1-6) s ($(du -h "$WORK/$1.bin" | cut -f1))"
  rm -f "$WORK/$1.vec"
}
log "training word-only"
train word-only 32 200000 0 0
log "training subword"
train subword 64 2000000 3 5

# wall seconds of a command, stdout discarded
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
min() { echo "$1 $2" | awk '{print ($1 < $2) ? $1 : $2}'; }

# parity FASTTEXT_OUT TESSERA_OUT -> "lines_differing lines_with_other_labels max_abs_prob_diff
# lines_fasttext lines_tessera"; the first few differences go to stderr.
parity() {
  python3 - "$1" "$2" <<'EOF'
import sys
a = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2]).read().splitlines()
n = max(len(a), len(b))
a2 = a + [None] * (n - len(a)); b2 = b + [None] * (n - len(b))
diff = labels = 0
maxd = 0.0
for i in range(n):
    if a2[i] == b2[i]:
        continue
    diff += 1
    x, y = (a2[i] or "").split(), (b2[i] or "").split()
    if x[0::2] != y[0::2]:
        labels += 1
    else:
        maxd = max([maxd] + [abs(float(p) - float(q)) for p, q in zip(x[1::2], y[1::2])])
    if diff <= 2:
        print("  line %d: fasttext %r / tessera %r" % (i + 1, a2[i], b2[i]), file=sys.stderr)
print(diff, labels, "%.2g" % maxd, len(a), len(b))
EOF
}

TSV=$OUT/rows.tsv
: >"$TSV"
for M in word-only subword; do
  BINF=$WORK/$M.bin
  # ---- 4a. fastText predict-prob, single thread ---------------------------------------------
  log "$M: fasttext predict-prob on 100,000 lines (best of 2)"
  w1=$(wall fasttext predict-prob "$BINF" "$INPUT" 1)
  w2=$(wall fasttext predict-prob "$BINF" "$INPUT" 1)
  FT_WALL=$(min "$w1" "$w2")
  l1=$(wall fasttext predict-prob "$BINF" "$WORK/input1.txt" 1)
  l2=$(wall fasttext predict-prob "$BINF" "$WORK/input1.txt" 1)
  FT_LOAD=$(min "$l1" "$l2")
  FT_LPS=$(echo "100000 / $FT_WALL" | bc -l)
  FT_NET=$(echo "100000 / ($FT_WALL - $FT_LOAD)" | bc -l)
  log "$M: ${FT_LPS%.*} lines/s wall (load ${FT_LOAD:0:5} s; ${FT_NET%.*} lines/s net of load)"

  # ---- 4b. import, serve ---------------------------------------------------------------------
  log "$M: tessera import fasttext"
  "$BIN/tessera" import fasttext "$BINF" "$WORK/$M.pkg" --name "$M" 2>"$WORK/$M.import.err" ||
    die "import $M failed: $(tail -1 "$WORK/$M.import.err")"
  PKG_BYTES=$(du -sb "$WORK/$M.pkg" | cut -f1)
  pick_ports
  write_config "$WORK/$M.toml"
  start_cluster "$WORK/$M.toml" "$WORK/cluster-$M"
  t0=$(date +%s.%N)
  load_model "$WORK/$M.pkg" "$M"
  LOAD_S=$(echo "$(date +%s.%N) - $t0" | bc -l)
  log "$M: serving after ${LOAD_S:0:5} s"

  # ---- 4c. parity on the first 2,000 lines (3 shards now, 1 shard after the benches) -------
  fasttext predict-prob "$BINF" "$WORK/input2k.txt" 1 >"$WORK/$M.ft2k"
  tcli predict --model "$M" --format fasttext --k 1 "$WORK/input2k.txt" >"$WORK/$M.ts2k" ||
    die "tessera predict $M failed"
  P3=$(parity "$WORK/$M.ft2k" "$WORK/$M.ts2k")
  log "$M: parity on 3 shards: $P3 (differing, label/order differing, max |dp|, lines ft, lines ts)"

  # ---- 4d. tessera bench -----------------------------------------------------------------------
  bench_row "$TSV" "$M.b256-c2" "$M" "$INPUT" 2 256 "$DURATION" "$FT_LPS"
  bench_row "$TSV" "$M.single-c32" "$M" "$INPUT" 32 1 "$DURATION" "$FT_LPS"
  for f in "$WORK"/bench.*.json; do cp "$f" "$OUT/" 2>/dev/null || true; done

  # ---- 4e. memory: VmHWM per node vs its shard bytes -----------------------------------------
  tcli status --json >"$OUT/status.$M.json"
  while read -r name pid hwm rss; do
    used=$(jq -r --arg n "$name" '[.members[] | select(.name == $n) | .used_bytes] | first // 0' \
      "$OUT/status.$M.json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$M" "$name" "$pid" "$hwm" "$rss" "$used" >>"$OUT/rss.tsv"
  done < <(peak_rss_table)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$M" "$FT_LPS" "$FT_NET" "$FT_LOAD" "$PKG_BYTES" "$LOAD_S" \
    >>"$OUT/fasttext.tsv"
  stop_cluster
  cp -r "$WORK/cluster-$M/logs" "$OUT/logs-$M" 2>/dev/null || true

  # ---- 4f. parity on a 1-shard cluster: no cross-shard partial sums -------------------------
  pick_ports
  write_config "$WORK/$M.1.toml" 1
  start_cluster "$WORK/$M.1.toml" "$WORK/cluster1-$M"
  load_model "$WORK/$M.pkg" "$M"
  tcli predict --model "$M" --format fasttext --k 1 "$WORK/input2k.txt" >"$WORK/$M.ts2k.1" ||
    die "tessera predict $M (1 shard) failed"
  stop_cluster
  P1=$(parity "$WORK/$M.ft2k" "$WORK/$M.ts2k.1")
  log "$M: parity on 1 shard: $P1"
  echo "$M 3 $P3" >>"$OUT/parity.txt"
  echo "$M 1 $P1" >>"$OUT/parity.txt"
  rm -rf "$WORK/$M.pkg"
done

# ---- 5. table ----------------------------------------------------------------------------------
{
  echo "issue 3: tessera (3 shards, 1 host, 2 cores) vs fasttext predict-prob (1 thread)"
  echo "corpus: $SOURCE, $LABELS labels; input: 100000 unlabelled lines (cycled)"
  echo "load: $(uptime | sed 's/.*load average/load average/')"
  printf '%-22s %10s %10s %8s %8s %8s %8s | %5s %6s %6s\n' \
    row req/s lines/s p50_us p99_us errs ratio coord shards client
  awk -F'\t' '{printf "%-22s %10.1f %10.1f %8d %8d %8d %8.4f | %5.2f %6.2f %6.2f\n",
    $1, $4, $5, $6, $7, $9, $10, $11, $12, $13}' "$TSV"
  echo "fastText predict-prob, 100000 lines, best of 2 (ratio above = tessera lines/s / wall lines/s):"
  awk -F'\t' '{printf "  %-10s %9.0f lines/s wall  (model load %.2f s; %.0f lines/s net of load)  package %.1f MB, cluster load %.1f s\n",
    $1, $2, $4, $3, $5 / 1e6, $6}' "$OUT/fasttext.tsv"
  echo "memory per node: peak RSS (VmHWM) vs shard bytes (status used_bytes), MB:"
  awk -F'\t' '{printf "  %-10s %-8s VmHWM %8.1f  shard bytes %8.1f  overhead %7.1f\n",
    $1, $2, $4 / 1024, $6 / 1e6, $4 / 1024 - $6 / 1e6}' "$OUT/rss.tsv"
  echo "parity, tessera predict --format fasttext --k 1 vs predict-prob, first 2000 lines:"
  awk '{printf "  %-10s %s shard(s): %4d lines differ (%d in labels/order; max |prob diff| %s; lines %s/%s)\n",
    $1, $2, $3, $4, $5, $6, $7}' "$OUT/parity.txt"
  echo "coord/shards/client = CPU cores used over the row incl. 1 s warmup (shards: sum of 3)"
} | tee "$OUT/table.txt"
