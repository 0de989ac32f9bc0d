#include "node/gateway_convert.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {
input_item text(size_t n) {
  input_item i;
  i.text.assign(n, 'a');
  return i;
}
input_item ids(size_t n) {
  input_item i;
  i.is_text = false;
  i.ids.assign(n, 1);
  return i;
}
}  // namespace

TEST_CASE("inputs are sliced into runs of about slice_bytes, each at least one input") {
  using v = std::vector<size_t>;
  CHECK(slice_bounds({}, 100) == v{0});
  CHECK(slice_bounds({text(10), text(10), text(10)}, 100) == v{0, 3});
  CHECK(slice_bounds({text(60), text(60), text(60)}, 100) == v{0, 1, 2, 3});
  CHECK(slice_bounds({text(50), text(50), text(1)}, 100) == v{0, 2, 3});
  // One input larger than a slice is a slice of its own.
  CHECK(slice_bounds({text(1000), text(1)}, 100) == v{0, 1, 2});
  // An id bag costs 12 bytes an id.
  CHECK(slice_bounds({ids(5), ids(5)}, 100) == v{0, 1, 2});
  CHECK(slice_bounds({ids(4), ids(4)}, 100) == v{0, 2});
}
