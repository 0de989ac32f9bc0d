#include "cli/restart_backoff.hpp"

#include <algorithm>

namespace tessera::cli {

restart_backoff::ms restart_backoff::next(ms ran_for) {
  ++restarts_;
  if (ran_for >= stable_ || last_.count() == 0)
    last_ = first_;
  else
    last_ = std::min(max_, last_ * 2);
  return last_;
}

}  // namespace tessera::cli
