#include "actors/unhandled.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "base/errors.hpp"

namespace tessera {
namespace {

std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{t.name()};
}

}  // namespace

std::string describe_exception(const std::exception_ptr& e) noexcept {
  if (!e) return "no exception";
  try {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      auto type = type_name(typeid(x));
      std::string what = x.what();
      return what == type ? type : type + ": " + what;
    } catch (...) {
      return "an exception that is not a std::exception";
    }
  } catch (...) {
    return "an exception (out of memory while describing it)";
  }
}

void end_on_exception(caf::scheduled_actor* self, const std::string& name) {
  self->set_exception_handler([name](caf::scheduled_actor*, std::exception_ptr& e) -> caf::error {
    return make_error(errc::internal,
                      "unhandled exception in " + name + ": " + describe_exception(e));
  });
}

}  // namespace tessera
