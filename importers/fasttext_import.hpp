#pragma once
// `tessera import fasttext model.bin OUT/`: converts a supervised fastText 0.9.2 model
// (.bin or .ftz) into a tessera package, streaming the input matrix.
//
// Package written (keys are manifest::files keys):
//   embedder "<name>.embedder": table "embedder.input" (input rows x dim, dequantized for
//     .ftz), pooling mean, featurizer kind "fasttext" with
//       vocab "vocab" (vocab.txt: every dictionary entry, words then labels, stored order),
//       word_types "word_types" (word_types.txt: "0"/"1" per entry),
//       buckets = n-gram rows after the words (args bucket, or the prune index size),
//       word_ngrams = max(1, wordNgrams), minn, maxn (0 for version 11), label_prefix;
//     pruned .ftz only: "prune_index" (prune_index.txt: "bucket row" per line, file order)
//       and "prune_buckets" (prune_buckets.txt: one line, the hash modulus, args bucket).
//   classifier "<name>.classifier": one layer "classifier.output" (nlabels x dim; for hs the
//     nlabels - 1 inner-node rows), no bias, activation none; output softmax, ova (also for
//     supervised -loss ns, which predicts like ova) or hs; labels "labels" (labels.txt: the
//     full dictionary label tokens, e.g. "__label__sports"); hs: label_counts "label_counts".
//
// Memory: the dictionary plus one chunk of rows (about 4 MiB), whatever the matrix size.
#include <string>

#include "package/package.hpp"

namespace tessera {

struct fasttext_import_options {
  // Prefix of label tokens; OOV tokens starting with it are skipped like labels.
  std::string label_prefix = "__label__";
  // Model name; empty: the file name without directory and extension.
  std::string name;
};

// Errors: those of ft::bin_reader::open (corrupt_package, unsupported, io_error),
// unsupported (hs with a single label), corrupt_package (hs label counts that cannot build the
// label tree: see check_hs_counts), and package_writer's (already_exists, io_error).
// `progress` (may be empty) gets (bytes of the model file done, file size).
caf::error import_fasttext(const std::string& bin_path, const std::string& out_dir,
                           const fasttext_import_options& opts, const progress_fn& progress);

}  // namespace tessera
