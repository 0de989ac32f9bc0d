#include "cluster/predict_options.hpp"

#include <limits>

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("k of at least 1, or -1 for every label, is accepted") {
  CHECK_FALSE(check_predict_options(1, 0.0f));
  CHECK_FALSE(check_predict_options(5, 0.5f));
  CHECK_FALSE(check_predict_options(-1, 0.0f));
  CHECK_FALSE(check_predict_options(std::numeric_limits<int32_t>::max(), 1.0f));
}

TEST_CASE("k of 0 or below -1 is refused with invalid_argument") {
  for (int32_t k : {0, -2, -100, std::numeric_limits<int32_t>::min()}) {
    auto err = check_predict_options(k, 0.0f);
    CHECK(is(err, errc::invalid_argument));
    CHECK(message_of(err).find(std::to_string(k)) != std::string::npos);
  }
}

TEST_CASE("a threshold that is NaN or infinite is refused; any finite one is accepted") {
  for (float t : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()})
    CHECK(is(check_predict_options(1, t), errc::invalid_argument));
  for (float t : {-0.5f, 0.0f, 0.001f, 1.0f, 2.0f}) CHECK_FALSE(check_predict_options(-1, t));
}
