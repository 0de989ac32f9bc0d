#include <catch2/catch.hpp>

#include "cli/progress.hpp"

using namespace tessera;
using namespace tessera::cli;

TEST_CASE("progress figures show rate and time left once known", "[progress]") {
  CHECK(progress_figures(0, 0) == "-");
  CHECK(progress_figures(1 << 29, 1u << 31) == "25% (512.00 MiB / 2.00 GiB)");
  CHECK(progress_figures(1 << 29, 1u << 31, estimate_load(1 << 29, 1u << 31, 2000)) ==
        "25% (512.00 MiB / 2.00 GiB), 256.00 MiB/s, 6 s left");
}

TEST_CASE("durations read like a person would say them", "[progress]") {
  CHECK(human_duration(-1) == "?");
  CHECK(human_duration(850) == "850 ms");
  CHECK(human_duration(12'400) == "12 s");
  CHECK(human_duration(185'000) == "3 min 5 s");
  CHECK(human_duration(7'620'000) == "2 h 7 min");
}

TEST_CASE("plain progress prints one line per step, a terminal one rewritten line", "[progress]") {
  progress_view plain{"loading", false, 10};
  CHECK(plain.update(0, 100, {}) == "loading: 0% (0 B / 100 B)\n");
  CHECK(plain.update(5, 100, {}).empty());  // still the 0% step
  CHECK(plain.update(12, 100, {}) == "loading: 12% (12 B / 100 B)\n");
  CHECK(plain.update(19, 100, {}).empty());
  CHECK(plain.update(100, 100, {0, 0}) == "loading: 100% (100 B / 100 B)\n");
  CHECK(plain.finish().empty());

  progress_view tty{"importing", true, 10};
  CHECK(tty.finish().empty());  // nothing shown, nothing to end
  CHECK(tty.update(50, 100, {10, 5000}) ==
        "\rimporting [############            ] 50% (50 B / 100 B), 10 B/s, 5 s left\033[K");
  CHECK(tty.update(50, 100, {10, 4000}).empty());  // same percentage: not rewritten
  CHECK(tty.update(51, 100, {}).find("51% (51 B / 100 B)") != std::string::npos);
  CHECK(tty.finish() == "\n");
  CHECK(tty.update(0, 0, {}).empty());  // nothing to do yet
}
