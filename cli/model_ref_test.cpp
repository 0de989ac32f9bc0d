#include <capnp/message.h>
#include <catch2/catch.hpp>

#include "cli/model_ref.hpp"

using namespace tessera::cli;

TEST_CASE("NAME means the active version") {
  auto r = parse_model_ref("sections");
  CHECK(r.name == "sections");
  CHECK(r.which == model_ref::kind::active);
}

TEST_CASE("NAME@digits is a version") {
  auto r = parse_model_ref("sections@3");
  CHECK(r.name == "sections");
  CHECK(r.which == model_ref::kind::version);
  CHECK(r.version == 3);
  CHECK(parse_model_ref("m@18446744073709551615").version == 18446744073709551615ull);
}

TEST_CASE("NAME@anything else is a label") {
  auto r = parse_model_ref("sections@canary");
  CHECK(r.which == model_ref::kind::label);
  CHECK(r.label == "canary");
  CHECK(parse_model_ref("m@3a").label == "3a");
  CHECK(parse_model_ref("m@-1").label == "-1");
}

TEST_CASE("bad references are invalid_argument") {
  for (const char* bad : {"", "@3", "m@", "m@0", "m@1@2", "m@a@b", "m@99999999999999999999"})
    CHECK_THROWS_AS(parse_model_ref(bad), std::invalid_argument);
}

TEST_CASE("fill writes the wire ModelRef") {
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<::ModelRef>();
  fill(b, parse_model_ref("m@canary"));
  CHECK(std::string(b.getName().cStr()) == "m");
  CHECK(b.isLabel());
  CHECK(std::string(b.getLabel().cStr()) == "canary");
  fill(b, parse_model_ref("m@7"));
  CHECK(b.isVersion());
  CHECK(b.getVersion() == 7);
  fill(b, parse_model_ref("m"));
  CHECK(b.isActive());
}
