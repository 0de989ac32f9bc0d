#include "cluster/fasttext_featurizer.hpp"

#include <cstdlib>

namespace tessera {

namespace {

constexpr std::string_view eos = "</s>";

bool is_separator(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

// Dictionary::readWord over a string: returns false at the end; `pos` advances past what was
// consumed. A '\n' ending a token is left for the next call, which returns it as "</s>".
bool read_word(std::string_view text, size_t& pos, std::string_view& word) {
  size_t start = pos;
  while (pos < text.size()) {
    char c = text[pos];
    if (!is_separator(c)) {
      ++pos;
      continue;
    }
    if (pos == start) {
      ++pos;
      if (c == '\n') {
        word = eos;
        return true;
      }
      start = pos;
      continue;
    }
    word = text.substr(start, pos - start);
    if (c != '\n') ++pos;
    return true;
  }
  word = text.substr(start, pos - start);
  return !word.empty();
}

caf::error corrupt(const std::string& msg) {
  return make_error(errc::corrupt_package, "fasttext featurizer: " + msg);
}

}  // namespace

uint32_t fasttext_hash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint32_t>(static_cast<int8_t>(c));
    h *= 16777619u;
  }
  return h;
}

caf::expected<std::unique_ptr<fasttext_featurizer>> fasttext_featurizer::make(
    fasttext_dictionary_config c) {
  if (c.types.size() != c.entries.size())
    return corrupt(std::to_string(c.types.size()) + " word types for " +
                   std::to_string(c.entries.size()) + " vocabulary entries");
  size_t nwords = 0;
  while (nwords < c.types.size() && c.types[nwords] == 0) ++nwords;
  for (size_t i = nwords; i < c.types.size(); ++i)
    if (c.types[i] != 1)
      return corrupt("entry " + std::to_string(i) + " has type " + std::to_string(c.types[i]) +
                     "; words (0) must come first, then labels (1)");
  if (c.entries.size() > static_cast<size_t>(INT32_MAX) || c.bucket > INT32_MAX)
    return corrupt("vocabulary or bucket count over 2^31");
  if (c.bucket == 0 && (c.maxn > 0 || c.word_ngrams > 1))
    return corrupt("n-grams are enabled but buckets is 0");
  for (const auto& [from, to] : c.prune_index)
    if (from < 0 || static_cast<uint64_t>(from) >= c.bucket || to < 0 ||
        static_cast<size_t>(to) >= c.prune_index.size())
      return corrupt("prune index entry (" + std::to_string(from) + ", " + std::to_string(to) +
                     ") out of range");
  return std::unique_ptr<fasttext_featurizer>(new fasttext_featurizer(std::move(c)));
}

fasttext_featurizer::fasttext_featurizer(fasttext_dictionary_config c) : c_(std::move(c)) {
  while (static_cast<size_t>(nwords_) < c_.types.size() && c_.types[nwords_] == 0) ++nwords_;
  rows_ = static_cast<uint64_t>(nwords_) + (c_.pruned ? c_.prune_index.size() : c_.bucket);
  size_t cap = 1;
  while (cap < 2 * c_.entries.size()) cap <<= 1;
  table_.assign(cap, -1);
  mask_ = cap - 1;
  for (size_t i = 0; i < c_.entries.size(); ++i) {
    const auto& w = c_.entries[i];
    uint64_t idx = fasttext_hash(w) & mask_;
    while (table_[idx] != -1 && c_.entries[static_cast<size_t>(table_[idx])] != w)
      idx = (idx + 1) & mask_;
    table_[idx] = static_cast<int32_t>(i);  // a duplicate word: the last entry wins
  }
  for (const auto& [from, to] : c_.prune_index) prune_map_[from] = to;
}

int32_t fasttext_featurizer::find(std::string_view token, uint32_t h) const {
  uint64_t idx = h & mask_;
  while (table_[idx] != -1) {
    if (c_.entries[static_cast<size_t>(table_[idx])] == token) return table_[idx];
    idx = (idx + 1) & mask_;
  }
  return -1;
}

// Dictionary::pushHash: `bucket` < c_.bucket.
void fasttext_featurizer::push_bucket(std::vector<int64_t>& ids, uint64_t bucket) const {
  if (!c_.pruned) {
    ids.push_back(nwords_ + static_cast<int64_t>(bucket));
    return;
  }
  auto it = prune_map_.find(static_cast<int32_t>(bucket));
  if (it != prune_map_.end()) ids.push_back(nwords_ + static_cast<int64_t>(it->second));
}

// Dictionary::computeSubwords over "<" + token + ">", by UTF-8 code point.
void fasttext_featurizer::add_char_ngrams(std::string_view token, std::vector<int64_t>& ids) const {
  if (c_.maxn == 0) return;
  std::string word;
  word.reserve(token.size() + 2);
  word.push_back('<');
  word.append(token);
  word.push_back('>');
  const size_t n_bytes = word.size();
  for (size_t i = 0; i < n_bytes; ++i) {
    if ((static_cast<uint8_t>(word[i]) & 0xC0) == 0x80) continue;
    uint32_t h = 2166136261u;  // the n-gram's hash, extended one byte at a time
    size_t j = i;
    for (uint32_t n = 1; j < n_bytes && n <= c_.maxn; ++n) {
      do {
        h ^= static_cast<uint32_t>(static_cast<int8_t>(word[j++]));
        h *= 16777619u;
      } while (j < n_bytes && (static_cast<uint8_t>(word[j]) & 0xC0) == 0x80);
      if (n >= c_.minn && !(n == 1 && (i == 0 || j == n_bytes)))
        push_bucket(ids, h % static_cast<uint32_t>(c_.bucket));
    }
  }
}

size_t fasttext_featurizer::featurize_line(std::string_view text, std::vector<int64_t>& ids) const {
  std::vector<int32_t> hashes;
  size_t pos = 0;
  std::string_view token;
  while (read_word(text, pos, token)) {
    uint32_t h = fasttext_hash(token);
    int32_t id = find(token, h);
    bool label = id >= 0 ? c_.types[static_cast<size_t>(id)] == 1
                         : token.compare(0, c_.label_prefix.size(), c_.label_prefix) == 0;
    if (!label) {
      if (id >= 0) {
        ids.push_back(id);
        if (token != eos) add_char_ngrams(token, ids);
      } else if (token != eos) {
        add_char_ngrams(token, ids);
      }
      hashes.push_back(static_cast<int32_t>(h));
    }
    if (token == eos) break;
  }
  // Dictionary::addWordNgrams: for each start i, the n-grams i..j for j < i + word_ngrams.
  if (c_.word_ngrams <= 1) return pos;
  for (size_t i = 0; i < hashes.size(); ++i) {
    uint64_t h = static_cast<uint64_t>(static_cast<int64_t>(hashes[i]));
    for (size_t j = i + 1; j < hashes.size() && j < i + c_.word_ngrams; ++j) {
      h = h * 116049371u + static_cast<uint64_t>(static_cast<int64_t>(hashes[j]));
      push_bucket(ids, h % c_.bucket);
    }
  }
  return pos;
}

caf::expected<std::unique_ptr<featurizer>> make_fasttext_featurizer(const package& pkg) {
  const auto& meta = pkg.meta();
  if (!meta.embedder) return corrupt("the package has no embedder");
  const auto& spec = meta.embedder->featurizer;
  if (spec.kind != "fasttext") return corrupt("featurizer kind is " + spec.kind);
  fasttext_dictionary_config c;
  auto vocab = pkg.read_lines(spec.vocab);
  if (!vocab) return std::move(vocab.error());
  auto types = pkg.read_lines(spec.word_types);
  if (!types) return std::move(types.error());
  c.entries = std::move(*vocab);
  for (const auto& t : *types) {
    if (t != "0" && t != "1") return corrupt("word type line '" + t + "' is not 0 or 1");
    c.types.push_back(t == "1" ? 1 : 0);
  }
  c.bucket = spec.buckets;
  c.word_ngrams = spec.word_ngrams;
  c.minn = spec.minn;
  c.maxn = spec.maxn;
  c.label_prefix = spec.label_prefix;
  if (meta.find_file(fasttext_prune_index_key)) {
    auto lines = pkg.read_lines(fasttext_prune_index_key);
    if (!lines) return std::move(lines.error());
    c.pruned = true;
    if (!meta.find_file(fasttext_prune_buckets_key))
      return corrupt(std::string(fasttext_prune_index_key) + " without " +
                     fasttext_prune_buckets_key);
    auto mod = pkg.read_lines(fasttext_prune_buckets_key);
    if (!mod) return std::move(mod.error());
    char* mend = nullptr;
    c.bucket = mod->size() == 1 ? std::strtoull((*mod)[0].c_str(), &mend, 10) : 0;
    if (mod->size() != 1 || mend == (*mod)[0].c_str() || *mend != '\0')
      return corrupt("prune_buckets must be one decimal line");
    for (const auto& l : *lines) {
      char* end = nullptr;
      long a = std::strtol(l.c_str(), &end, 10);
      char* end2 = nullptr;
      long b = std::strtol(end, &end2, 10);
      if (end == l.c_str() || end2 == end || *end2 != '\0' || *end != ' ' || a < 0 || b < 0 ||
          a > INT32_MAX || b > INT32_MAX)
        return corrupt("prune index line '" + l + "' is not 'bucket row'");
      c.prune_index.emplace_back(static_cast<int32_t>(a), static_cast<int32_t>(b));
    }
  }
  auto f = fasttext_featurizer::make(std::move(c));
  if (!f) return std::move(f.error());
  const auto& tables = meta.embedder->tables;
  const tensor_info* t = tables.empty() ? nullptr : meta.find_tensor(tables[0]);
  if (!t) return corrupt("the embedder has no table");
  if (t->rows != (*f)->rows())
    return corrupt("table " + t->name + " has " + std::to_string(t->rows) +
                   " rows, the dictionary needs " + std::to_string((*f)->rows()));
  return std::unique_ptr<featurizer>(std::move(*f));
}

}  // namespace tessera
