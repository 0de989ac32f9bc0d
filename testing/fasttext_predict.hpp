#pragma once
// A small, bit-exact, single-process reference of `fasttext predict-prob` (fastText 0.9.2),
// built on the streaming reader and the fastText featurizer. It holds the whole input matrix
// in memory: for tests and checks only, never on the sharded serving path.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/fasttext_featurizer.hpp"
#include "cluster/fasttext_output.hpp"
#include "importers/fasttext_bin.hpp"

namespace tessera {

// The featurizer configuration of a fastText model's dictionary.
fasttext_dictionary_config fasttext_config_from_bin(const ft::bin_reader& r,
                                                    const std::string& label_prefix);

class fasttext_predictor {
 public:
  // Reads the whole model. Errors: those of ft::bin_reader::open, and corrupt_package for hs
  // label counts check_hs_counts refuses.
  static caf::expected<fasttext_predictor> load(const std::string& bin_path,
                                                const std::string& label_prefix = "__label__");

  // What `fasttext predict-prob MODEL FILE k threshold` prints for a file holding `input`:
  // one line per fastText getLine, "label prob label prob ...", probs as ostream prints a
  // float (%g). Errors: invalid_argument when k is 0 or below -1 (fastText aborts).
  caf::expected<std::string> predict_prob(std::string_view input, int32_t k,
                                          float threshold = 0.0f) const;

  // Prediction for already featurized ids (empty ids: no prediction), best first.
  std::vector<scored_label> predict_ids(const std::vector<int64_t>& ids, int32_t k,
                                        float threshold) const;
  // fastText's hidden vector: sequential float sum of the rows, times (float)(1.0 / n).
  std::vector<float> hidden(const std::vector<int64_t>& ids) const;

  const fasttext_featurizer& featurizer() const { return *featurizer_; }
  const ft::bin_reader& reader() const { return *reader_; }
  // Label i's dictionary token, e.g. "__label__sports".
  const std::string& label(uint32_t i) const;

 private:
  std::shared_ptr<ft::bin_reader> reader_;
  std::shared_ptr<fasttext_featurizer> featurizer_;
  std::shared_ptr<std::vector<float>> input_;  // input_rows x dim
  std::shared_ptr<fasttext_hs_tree> tree_;     // hs only
};

}  // namespace tessera
