#pragma once
// Facts about this process from /proc.
#include <cstdint>

namespace tessera {

// Resident set size in bytes (0 if /proc is unreadable).
uint64_t current_rss_bytes();

// Peak resident set size in bytes (VmHWM; 0 if unreadable).
uint64_t peak_rss_bytes();

}  // namespace tessera
