#!/usr/bin/env bash
# Builds the default model "sections": a fastText classifier that reads a Debian package
# description and answers its archive section (libs, devel, python, utils, net, doc, ...).
#
#   bash scripts/default_model.sh [OUT_DIR]      (default data/sections)
#
# Corpus: `apt-cache dumpavail` (every package record of the local apt lists, whatever their
# compression; `apt-get update` must have run, scripts/setup.sh does it). One line per package:
# "__label__<section> <description>", the description being the short line plus any long lines
# the lists carry, lowercased, punctuation turned into spaces. Identical texts are kept once,
# sections with fewer than MIN_SECTION packages are dropped, the rest is shuffled with a fixed
# seed and 1 line in 20 is held out for `fasttext test`.
#
# Output in OUT_DIR: corpus.txt, train.txt, test.txt, sections.bin (+ .vec), test_result.txt
# and package/ (the tessera package, imported with `tessera import fasttext`).
# Idempotent: nothing is done when OUT_DIR/package/manifest.toml is newer than this script and
# names the checksum this build writes (checksum = "xxh3-128"); a package an older tessera wrote
# (format 1, checksum64) is imported again from OUT_DIR/sections.bin without retraining.
# Needs only bash, awk, sed, coreutils, apt-cache and Debian's `fasttext`.
set -euo pipefail

cd "$(dirname "$0")/.."
SCRIPT="scripts/default_model.sh"
OUT="${1:-data/sections}"
TESSERA="build/bin/tessera"
MIN_SECTION="${MIN_SECTION:-200}"
export LC_ALL=C

say() { echo "default_model: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# Imports OUT/sections.bin into OUT/package (the importer refuses to overwrite one).
import_package() {
  rm -rf "${OUT:?}/package"
  "$TESSERA" import fasttext "$OUT/sections.bin" "$OUT/package" --name sections >"$OUT/import.log" 2>&1 || {
    cat "$OUT/import.log" >&2
    die "tessera import fasttext failed"
  }
  say "package written to $OUT/package"
}

# True when the manifest names the checksum algorithm this build reads (format 2 and later).
current_checksum() {
  grep -Eq "^checksum = [\"']xxh3-128[\"'][[:space:]]*$" "$1"
}

if [[ -f "$OUT/package/manifest.toml" && "$OUT/package/manifest.toml" -nt "$SCRIPT" ]]; then
  if current_checksum "$OUT/package/manifest.toml"; then
    say "$OUT/package is up to date (delete it to rebuild)"
    exit 0
  fi
  if [[ -f "$OUT/sections.bin" ]]; then
    [[ -x "$TESSERA" ]] || die "$TESSERA not built (run: bash scripts/setup.sh)"
    say "$OUT/package was written by an older tessera (no checksum = \"xxh3-128\"): importing again"
    import_package
    exit 0
  fi
  say "$OUT/package was written by an older tessera and $OUT/sections.bin is gone: rebuilding"
fi

command -v fasttext >/dev/null || die "fasttext not found (apt-get install fasttext; scripts/setup.sh does it)"
[[ -x "$TESSERA" ]] || die "$TESSERA not built (run: bash scripts/setup.sh)"
mkdir -p "$OUT"

# 1. Corpus: one "__label__SECTION text" line per package record with a Section and a text.
apt-cache dumpavail | awk '
  function flush() {
    if (sec != "" && text != "") {
      t = tolower(text)
      gsub(/[^a-z0-9+]+/, " ", t)       # punctuation and non-ASCII bytes become spaces
      gsub(/(^| )\+( |$)/, " ", t)       # a lone "+" is not a word
      gsub(/^ +| +$/, "", t)
      gsub(/ +/, " ", t)
      if (t != "") print "__label__" sec " " t
    }
    sec = ""; text = ""; indesc = 0
  }
  /^$/ { flush(); next }
  /^Section:/ {
    sec = $2
    sub(/^(contrib|non-free|non-free-firmware)\//, "", sec)
    indesc = 0; next
  }
  /^Description:/ { sub(/^Description:[ \t]*/, ""); text = $0; indesc = 1; next }
  /^[ \t]/ {
    if (indesc) {
      line = $0
      sub(/^[ \t]+/, "", line)
      if (line != ".") text = text " " line
    }
    next
  }
  { indesc = 0 }
  END { flush() }
' >"$OUT/corpus.raw"

records=$(wc -l <"$OUT/corpus.raw")
[[ "$records" -gt 1000 ]] ||
  die "apt-cache dumpavail gave only $records described packages; run 'apt-get update' first"

# 2. Keep each text once (first record wins), then drop the small sections.
awk '{ t = $0; sub(/^[^ ]+ /, "", t); if (!(t in seen)) { seen[t] = 1; print } }' \
  "$OUT/corpus.raw" >"$OUT/corpus.dedup"
awk -v min="$MIN_SECTION" '
  NR == FNR { n[$1]++; next }
  n[$1] >= min
' "$OUT/corpus.dedup" "$OUT/corpus.dedup" >"$OUT/corpus.kept"

# 3. Deterministic shuffle (fixed awk seed, ties broken by the line), then hold out 1 in 20.
awk 'BEGIN { srand(1) } { printf "%.8f\t%s\n", rand(), $0 }' "$OUT/corpus.kept" |
  sort -t "$(printf '\t')" -k1,1 -k2 | cut -f2- >"$OUT/corpus.txt"
awk 'NR % 20 == 0' "$OUT/corpus.txt" >"$OUT/test.txt"
awk 'NR % 20 != 0' "$OUT/corpus.txt" >"$OUT/train.txt"
rm -f "$OUT/corpus.raw" "$OUT/corpus.dedup" "$OUT/corpus.kept"

sections=$(cut -d' ' -f1 "$OUT/corpus.txt" | sort -u | wc -l)
say "corpus: $records package records, $(wc -l <"$OUT/corpus.txt") distinct texts in $sections sections" \
  "(>= $MIN_SECTION each); train $(wc -l <"$OUT/train.txt"), test $(wc -l <"$OUT/test.txt")"

# 4. Train. One thread and a fixed seed: the same corpus gives the same model.
say "training fastText (supervised, 1 thread)..."
start=$(date +%s)
fasttext supervised -input "$OUT/train.txt" -output "$OUT/sections" \
  -dim 32 -epoch 10 -lr 0.5 -wordNgrams 2 -minn 3 -maxn 5 -bucket 200000 \
  -thread 1 -seed 1 -verbose 0 >"$OUT/train.log" 2>&1 || {
  cat "$OUT/train.log" >&2
  die "fasttext supervised failed"
}
secs=$(($(date +%s) - start))
fasttext test "$OUT/sections.bin" "$OUT/test.txt" 1 >"$OUT/test_result.txt"
p1=$(awk '$1 == "P@1" { print $2 }' "$OUT/test_result.txt")
say "trained in ${secs}s; held-out P@1 = $p1 ($(wc -l <"$OUT/test.txt") texts, $OUT/test_result.txt)"

# 5. Import into a tessera package.
import_package
