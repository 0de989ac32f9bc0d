#include "cli/progress.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/format.hpp"

namespace tessera::cli {

std::string human_duration(int64_t ms) {
  if (ms < 0) return "?";
  if (ms < 1000) return std::to_string(ms) + " ms";
  const int64_t s = (ms + 500) / 1000;
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}

namespace {

int percent(uint64_t done, uint64_t total) {
  if (total == 0) return 0;
  const double p = 100.0 * static_cast<double>(std::min(done, total)) / static_cast<double>(total);
  return static_cast<int>(p);
}

}  // namespace

std::string progress_figures(uint64_t done, uint64_t total, load_estimate e) {
  if (total == 0) return "-";
  std::string out = std::to_string(percent(done, total)) + "% (" + human_bytes(done) + " / " +
                    human_bytes(total) + ")";
  if (e.bytes_per_s > 0) out += ", " + human_bytes(e.bytes_per_s) + "/s";
  if (e.ms_left > 0) out += ", " + human_duration(e.ms_left) + " left";
  return out;
}

progress_view::progress_view(std::string what, bool tty, int step_pct)
    : what_(std::move(what)), tty_(tty), step_pct_(std::max(1, step_pct)) {}

std::string progress_view::update(uint64_t done, uint64_t total, load_estimate e) {
  if (total == 0) return "";
  const int pct = percent(done, total);
  const int step = tty_ ? pct : pct / step_pct_ * step_pct_;
  if (step == last_pct_) return "";
  last_pct_ = step;
  shown_ = true;
  const std::string figures = progress_figures(done, total, e);
  if (!tty_) return what_ + ": " + figures + "\n";
  constexpr int width = 24;
  const int filled = pct * width / 100;
  return "\r" + what_ + " [" + std::string(filled, '#') + std::string(width - filled, ' ') + "] " +
         figures + "\033[K";
}

std::string progress_view::finish() const {
  return tty_ && shown_ ? "\n" : "";
}

void write_stderr(const std::string& text) {
  if (text.empty()) return;
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace tessera::cli
