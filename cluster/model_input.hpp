#pragma once
// A call's inputs as the gateway hands them to the serving plane, and the bags of row ids a
// model family (cluster/model_family.hpp) makes of them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

// What one input carries: text for a text featurizer (the fastText family), one bag of ids
// into the embedder's first table, or a bag per table (the embedding-bag family).
enum class input_kind : uint8_t { text, ids, tables };

// One table's bag of an input of kind tables; the table is named, or given by its index when
// `name` is empty.
struct table_bag {
  std::string name;
  uint32_t index = 0;
  std::vector<int64_t> ids;
  std::vector<float> weights;  // empty, or one per id
};

struct input_item {
  input_kind kind = input_kind::text;
  std::string text;               // kind text
  std::vector<int64_t> ids;       // kind ids
  std::vector<float> weights;     // kind ids: empty or parallel to ids
  std::vector<table_bag> tables;  // kind tables: at most one bag per table; others are empty

  // Ids (and text bytes) the input carries: what the gateway bounds and slices by.
  uint64_t cost() const {
    if (kind == input_kind::text) return text.size();
    uint64_t n = ids.size();
    for (const auto& t : tables) n += t.ids.size() + t.name.size();
    return 12 * n;
  }
};

// Validated inputs of one call or batch: per input, one bag per table of its model, input
// after input: bag b of table t of input i is ids[i * tables + t]. Ids are global rows of
// their table.
struct bag_inputs {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<float>> weights;  // empty, or one (possibly empty) per bag
  size_t tables = 1;

  size_t inputs() const { return tables == 0 ? 0 : ids.size() / tables; }
};

}  // namespace tessera
