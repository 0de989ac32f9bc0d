// Splitting a gather's row ids into bounded parts and joining the parts' rows again.
#include "cluster/message_parts.hpp"

#include <random>

#include <catch2/catch.hpp>

#include "base/bytes.hpp"

using namespace tessera;

TEST_CASE("rows per part fill the byte bound and are never zero") {
  CHECK(rows_per_part(64, 1 << 20) == 4096);
  CHECK(rows_per_part(100, 1000) == 2);
  CHECK(rows_per_part(1 << 20, 1000) == 1);  // a row larger than the bound still goes alone
  CHECK(rows_per_part(0, 1000) == 250);
}

TEST_CASE("split row ids keep every id once, in order, at most `rows` per part") {
  std::mt19937 rng(16);
  for (size_t n : {0, 1, 7, 8, 9, 100, 4097}) {
    for (size_t rows : {1, 3, 8, 5000}) {
      std::vector<uint32_t> ids(n);
      for (auto& id : ids) id = static_cast<uint32_t>(rng());
      auto parts = split_row_ids(to_bytes(ids), rows);
      REQUIRE(!parts.empty());
      std::vector<uint32_t> joined;
      for (const auto& p : parts) {
        std::vector<uint32_t> got;
        REQUIRE(from_bytes(p, got));
        CHECK(got.size() <= rows);
        CHECK((got.size() > 0 || n == 0));
        joined.insert(joined.end(), got.begin(), got.end());
      }
      CHECK(joined == ids);
      CHECK(parts.size() == std::max<size_t>(1, (n + rows - 1) / rows));
    }
  }
}

TEST_CASE("joined float parts equal the rows gathered in one piece") {
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
