#!/usr/bin/env bash
# Regenerates what fuzz/ checks in (see fuzz/README.md):
# - the tiny fastText models in fuzz/data/, trained by `fasttext` on fuzz/data/train.txt with
#   one thread and a fixed seed, so a rerun writes the same bytes: tiny.bin (char 2-3-grams,
#   word bigrams, 64 buckets), tiny.ftz (quantized with -qnorm and pruned to 300 rows by
#   -cutoff) and tiny_hs.bin (hierarchical softmax, word trigrams);
# - the seed corpora fuzz/corpus/<target>/, written by build-fuzz/bin/make_seeds with the
#   project's own code (packages from the synthetic generator and the importer, requests built
#   with the schema, the shipped configs).
#
#   bash fuzz/make_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
data=fuzz/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

train() {  # train OUT ARGS...
  local out=$1
  shift
  fasttext supervised -input "$data/train.txt" -output "$tmp/$out" -epoch 1 -minCount 1 \
    -thread 1 -seed 1 "$@" >"$tmp/$out.log" 2>&1
}
train tiny -dim 4 -bucket 64 -minn 2 -maxn 3 -wordNgrams 2
train tinyq -dim 4 -bucket 256 -minn 2 -maxn 3 -wordNgrams 2
fasttext quantize -input "$data/train.txt" -output "$tmp/tinyq" -qnorm -cutoff 300 -retrain \
  -epoch 1 -dsub 2 -thread 1 -seed 1 >"$tmp/quantize.log" 2>&1
train tiny_hs -dim 3 -bucket 32 -wordNgrams 3 -loss hs
cp "$tmp/tiny.bin" "$tmp/tiny_hs.bin" "$data/"
cp "$tmp/tinyq.ftz" "$data/tiny.ftz"

bash scripts/fuzz.sh 0
rm -rf fuzz/corpus
build-fuzz/bin/make_seeds fuzz/corpus
du -sh fuzz/data fuzz/corpus
