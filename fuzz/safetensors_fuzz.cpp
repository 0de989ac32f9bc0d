// The safetensors reader (st::reader), header parser first.
//
// Input: the bytes of a file. reader::open either refuses with corrupt_package or unsupported,
// or what it read is consistent:
// - the tensors lie back to back after the header, in order, covering the data exactly;
// - each one's bytes are its shape's elements times its dtype's size, its dtype one of F32,
//   F16 and BF16, its name found by find();
// - every row of a tensor of at most 1 M elements reads, and reading past its rows is
//   invalid_argument.
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "importers/safetensors.hpp"

using namespace tessera;
using namespace tessera::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto r = st::reader::open(make_memory_source(bytes));
  if (!r) {
    require_code(r.error(), {errc::corrupt_package, errc::unsupported}, "reader::open");
    return 0;
  }
  uint64_t header = 0;  // opened: the file has its 8-byte length
  for (int i = 7; i >= 0; --i) header = (header << 8) | data[i];
  uint64_t at = 8 + header;  // where the data starts
  for (const auto& t : r->tensors()) {
    FUZZ_REQUIRE(t.begin == at, "tensor '" + t.name + "' does not follow the one before");
    FUZZ_REQUIRE(t.end - t.begin == t.elements() * st::size_of(t.type),
                 "tensor '" + t.name + "' bytes do not match its shape");
    FUZZ_REQUIRE(r->find(t.name) != nullptr, "find() misses tensor '" + t.name + "'");
    at = t.end;
    if (t.elements() > (uint64_t{1} << 20)) continue;
    std::vector<float> rows(t.elements());
    FUZZ_REQUIRE(!r->read_rows(t, 0, t.rows(), rows.data()),
                 "the rows of tensor '" + t.name + "' do not read");
    FUZZ_REQUIRE(is(r->read_rows(t, 0, t.rows() + 1, rows.data()), errc::invalid_argument),
                 "a row past tensor '" + t.name + "' reads");
  }
  FUZZ_REQUIRE(at == size, "data bytes after the last tensor");
  return 0;
}
