// Splitting a sub-request's items into bounded parts and joining the parts' replies again.
#include "cluster/message_parts.hpp"

#include <random>

#include <catch2/catch.hpp>

#include "base/bytes.hpp"

using namespace tessera;

TEST_CASE("items per part fill the byte bound and are never zero") {
  CHECK(items_per_part(64 * 4, 1 << 20) == 4096);
  CHECK(items_per_part(400, 1000) == 2);
  CHECK(items_per_part(4 << 20, 1000) == 1);  // an item larger than the bound still goes alone
  CHECK(items_per_part(0, 1000) == 1000);
}

TEST_CASE("split items keep every item once, whole and in order, at most `items` per part") {
  std::mt19937 rng(16);
  for (size_t item : {1, 4, 12}) {
    for (size_t n : {0, 1, 7, 8, 9, 100, 4097}) {
      for (size_t per : {1, 3, 8, 5000}) {
        std::vector<char> bytes(n * item);
        for (auto& b : bytes) b = static_cast<char>(rng());
        auto parts = split_items(bytes, item, per);
        REQUIRE(!parts.empty());
        std::vector<char> joined;
        for (const auto& p : parts) {
          CHECK(p.size() % item == 0);
          CHECK(p.size() <= per * item);
          CHECK((!p.empty() || n == 0));
          joined.insert(joined.end(), p.begin(), p.end());
        }
        CHECK(joined == bytes);
        CHECK(parts.size() == std::max<size_t>(1, (n + per - 1) / per));
      }
    }
  }
}

TEST_CASE("joined float parts equal the rows answered in one piece") {
  std::vector<float> all(1000);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<float>(i) * 0.5f - 7.0f;
  std::vector<std::vector<char>> parts;
  for (size_t at = 0; at < all.size(); at += 300)
    parts.push_back(to_bytes(all.data() + at, std::min<size_t>(300, all.size() - at)));
  parts.emplace_back();  // an empty part adds nothing
  std::vector<float> out;
  REQUIRE(join_float_parts(parts, out));
  CHECK(out == all);
}

TEST_CASE("a part that is not whole floats is refused") {
  std::vector<float> out;
  CHECK_FALSE(join_float_parts({std::vector<char>(8), std::vector<char>(6)}, out));
}
