#pragma once
// `tessera import safetensors MODEL.safetensors --spec SPEC.toml OUT_DIR`: converts a PyTorch
// embedding-bag model (torch.nn.EmbeddingBag tables, then torch.nn.Linear layers) into a
// tessera package. The spec (importers/torch_spec.hpp) names the file's tensors.
//
// Package written (keys are manifest::files keys):
//   with [[tables]]: embedder "<name>.embedder", version 1, featurizer kind "ids"; per table,
//     in spec order, tensor "embedder.<table name>" (rows x dim) and one [[embedder.bags]]
//     (the table's name, pooling = its mode, padding_idx made non-negative, or none);
//     pooling = the first table's mode.
//   with [[layers]]: classifier "<name>.classifier", version 1; layer i's weight
//     "classifier.l<i>.weight" (out x in: PyTorch's Linear layout is tessera's) and, when the
//     spec names one, bias "classifier.l<i>.bias" (out x 1); activation as in the spec; output
//     softmax | sigmoid | none from [output] kind; labels "labels" (labels.txt: the spec's
//     labels, else "0", "1", ...).
//   A spec with tables only writes an embedder-only package, with layers only a
//   classifier-only one. Tensors are float32; F16 and BF16 values convert exactly.
// Model name: `name`, else the spec's `name`, else the model file's name without directory
// and extension ("ctr.safetensors" -> "ctr").
//
// Memory: the spec, the file's header entries and one chunk of rows (about 1 MiB of float32;
// one row when a row is larger), whatever the tensors' sizes.
//
// Everything but I/O is checked before OUT_DIR is created: a refused spec or file writes
// nothing. A failure after that (I/O) leaves OUT_DIR without manifest.toml, so it is no
// package; tensor files already written stay.
#include <string>

#include "importers/torch_spec.hpp"
#include "package/package.hpp"

namespace tessera {

// What an import wrote.
struct safetensors_import_result {
  std::string name;     // the model name (manifest name)
  torch_spec spec;      // the spec as checked (default labels filled in)
  torch_shapes shapes;  // tables' rows x dim, layers' out x in, from the file
};

// The package tensor name of spec table `table`: "embedder.<table>".
std::string safetensors_table_tensor(const std::string& table);

// Reads the spec file `spec_file` (at most 64 MiB), opens `model_file`, checks the spec
// against its tensors and writes the package into `out_dir` (see above).
// Errors:
//   io_error: the spec file or the model file cannot be opened or read (message names it);
//   invalid_argument: the spec (parse_torch_spec, check_torch_spec: names the key or tensor
//     at fault), a spec file over 64 MiB, a table name that cannot be part of a file name
//     (holds '/' or NUL), a label holding '\n';
//   corrupt_package, unsupported: the model file (st::reader::open);
//   already_exists: out_dir holds a package; io_error: writing the package.
// `progress` (may be empty) gets (bytes of the used tensors' data read, their total), after
// every chunk.
caf::expected<safetensors_import_result> import_safetensors(const std::string& model_file,
                                                            const std::string& spec_file,
                                                            const std::string& out_dir,
                                                            const std::string& name,
                                                            const progress_fn& progress);

}  // namespace tessera
