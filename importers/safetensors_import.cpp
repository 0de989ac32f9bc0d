#include "importers/safetensors_import.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace tessera {

namespace {

// Floats per chunk of rows read from the model and appended to the package: 1 MiB.
constexpr uint64_t chunk_floats = (uint64_t{1} << 20) / sizeof(float);
constexpr uint64_t max_spec_bytes = uint64_t{64} << 20;

caf::expected<std::string> read_spec_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    return make_error(errc::io_error, "cannot open spec " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    text.append(buf, n);
    if (text.size() > max_spec_bytes)
      return make_error(errc::invalid_argument, "spec " + path + " is larger than 64 MiB");
    if (n < sizeof buf) break;
  }
  if (std::ferror(f.get()))
    return make_error(errc::io_error, "cannot read spec " + path + ": " + std::strerror(errno));
  return text;
}

std::string file_stem(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  return stem.empty() ? "model" : stem;
}

// "classifier.l<i>.<part>".
std::string layer_tensor(size_t i, const char* part) {
  return "classifier.l" + std::to_string(i) + "." + part;
}

pooling_kind pooling_of(bag_mode m) {
  switch (m) {
    case bag_mode::sum:
      return pooling_kind::sum;
    case bag_mode::mean:
      return pooling_kind::mean;
    case bag_mode::max:
      return pooling_kind::max;
  }
  return pooling_kind::mean;
}

output_kind output_of(torch_output_kind k) {
  switch (k) {
    case torch_output_kind::softmax:
      return output_kind::softmax;
    case torch_output_kind::sigmoid:
      return output_kind::sigmoid;
    case torch_output_kind::none:
      return output_kind::none;
  }
  return output_kind::none;
}

// What check_torch_spec leaves to the package: names that become file names, labels that
// become lines.
caf::error check_names(const torch_spec& spec, const std::string& spec_file) {
  for (const auto& t : spec.tables)
    if (t.name.find('/') != std::string::npos || t.name.find('\0') != std::string::npos)
      return make_error(errc::invalid_argument, spec_file + ": table '" + t.name +
                                                    "': the name becomes a file name and must "
                                                    "not hold '/' or NUL");
  for (size_t i = 0; i < spec.labels.size(); ++i)
    if (spec.labels[i].find('\n') != std::string::npos)
      return make_error(errc::invalid_argument,
                        spec_file + ": [output] label " + std::to_string(i) + " holds a newline");
  return caf::none;
}

// (bytes done, total) of the model's used tensors, reported after every chunk.
struct byte_progress {
  const progress_fn& fn;
  uint64_t done = 0, total = 0;
  void add(uint64_t bytes) {
    done += bytes;
    if (fn) fn(done, total);
  }
};

// Streams file tensor `t` into package tensor `name` (t.rows() x t.row_elements()), about
// chunk_floats at a time.
caf::error copy_tensor(package_writer& w, const st::reader& r, const st::tensor_info& t,
                       const std::string& name, byte_progress& progress) {
  const uint64_t rows = t.rows(), cols = t.row_elements();
  if (auto err = w.begin_tensor(name, rows, cols)) return err;
  const uint64_t per_chunk = std::max<uint64_t>(1, chunk_floats / cols);
  std::vector<float> buf(static_cast<size_t>(std::min(per_chunk, rows) * cols));
  for (uint64_t begin = 0; begin < rows; begin += per_chunk) {
    const uint64_t n = std::min(per_chunk, rows - begin);
    if (auto err = r.read_rows(t, begin, begin + n, buf.data())) return err;
    if (auto err = w.append_rows(buf.data(), n)) return err;
    progress.add(n * cols * st::size_of(t.type));
  }
  return w.end_tensor();
}

embedder_spec embedder_of(const std::string& name, const torch_spec& spec,
                          const torch_shapes& shapes) {
  embedder_spec e;
  e.name = name + ".embedder";
  e.version = 1;
  e.pooling = pooling_of(spec.tables.front().mode);
  e.featurizer.kind = "ids";
  for (size_t i = 0; i < spec.tables.size(); ++i) {
    const auto& t = spec.tables[i];
    e.tables.push_back(safetensors_table_tensor(t.name));
    const auto& pad = shapes.tables[i].padding_idx;
    e.bags.push_back(bag_spec{t.name, pooling_of(t.mode), pad ? static_cast<int64_t>(*pad) : -1});
  }
  return e;
}

classifier_spec classifier_of(const std::string& name, const torch_spec& spec) {
  classifier_spec c;
  c.name = name + ".classifier";
  c.version = 1;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& l = spec.layers[i];
    c.layers.push_back(layer_spec{layer_tensor(i, "weight"),
                                  l.bias.empty() ? "" : layer_tensor(i, "bias"), l.activation});
  }
  c.output = output_of(spec.output);
  c.labels = "labels";
  return c;
}

// Each tensor the package gets: the file's tensor and its package name, in the order written.
struct copy_job {
  const st::tensor_info* from;
  std::string to;
};

std::vector<copy_job> copy_plan(const torch_spec& spec, const st::reader& r) {
  std::vector<copy_job> jobs;
  for (const auto& t : spec.tables)
    jobs.push_back({r.find(t.tensor), safetensors_table_tensor(t.name)});
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    jobs.push_back({r.find(spec.layers[i].weight), layer_tensor(i, "weight")});
    if (!spec.layers[i].bias.empty())
      jobs.push_back({r.find(spec.layers[i].bias), layer_tensor(i, "bias")});
  }
  return jobs;
}

// Writes every tensor and file of the package, then its manifest. `spec` is checked against
// `r`, so every tensor it names exists.
caf::error write_package(package_writer& w, const st::reader& r,
                         const safetensors_import_result& res, const progress_fn& fn) {
  const torch_spec& spec = res.spec;
  const std::vector<copy_job> jobs = copy_plan(spec, r);
  byte_progress progress{fn};
  for (const auto& j : jobs) progress.total += j.from->end - j.from->begin;
  for (const auto& j : jobs)
    if (auto err = copy_tensor(w, r, *j.from, j.to, progress)) return err;
  manifest m;
  m.name = res.name;
  if (!spec.tables.empty()) m.embedder = embedder_of(res.name, spec, res.shapes);
  if (!spec.layers.empty()) {
    if (auto err = w.write_lines("labels", "labels.txt", spec.labels)) return err;
    m.classifier = classifier_of(res.name, spec);
  }
  return w.finish(std::move(m));
}

}  // namespace

std::string safetensors_table_tensor(const std::string& table) {
  return "embedder." + table;
}

caf::expected<safetensors_import_result> import_safetensors(const std::string& model_file,
                                                            const std::string& spec_file,
                                                            const std::string& out_dir,
                                                            const std::string& name,
                                                            const progress_fn& progress) {
  auto text = read_spec_file(spec_file);
  if (!text) return std::move(text.error());
  auto spec = parse_torch_spec(*text, spec_file);
  if (!spec) return std::move(spec.error());
  auto src = open_file_source(model_file);
  if (!src) return std::move(src.error());
  auto r = st::reader::open(std::move(*src));
  if (!r) return make_error(code_of(r.error()), model_file + ": " + message_of(r.error()));
  auto shapes = check_torch_spec(*spec, *r);
  if (!shapes) {
    // check_torch_spec says "spec: <what>"; the prefix becomes the two files' names.
    std::string what = message_of(shapes.error());
    if (what.rfind("spec: ", 0) == 0) what.erase(0, 6);
    return make_error(code_of(shapes.error()), spec_file + " (for " + model_file + "): " + what);
  }
  if (auto err = check_names(*spec, spec_file)) return err;

  safetensors_import_result res;
  res.name = !name.empty() ? name : !spec->name.empty() ? spec->name : file_stem(model_file);
  res.spec = std::move(*spec);
  res.shapes = std::move(*shapes);
  auto w = package_writer::create(out_dir);
  if (!w) return std::move(w.error());
  if (auto err = write_package(*w, *r, res, progress)) return err;
  return res;
}

}  // namespace tessera
