#include "tests/support/http_get.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/cluster_fixture.hpp"
#include "tests/support/skip.hpp"

namespace tessera::test {
namespace {

using clock = std::chrono::steady_clock;

// A connection to IPv4 `host`:`port`, or -1.
int connect_to(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads into `out` until the peer closes, `done(out)` holds, or the deadline passes.
template <class Done>
void read_until(int fd, std::string& out, clock::time_point deadline, Done done) {
  char buf[4096];
  while (!done(out)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    out.append(buf, static_cast<size_t>(n));
  }
}

bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

http_result http_get(uint16_t port, const std::string& path, const std::string& method,
                     std::chrono::milliseconds limit) {
  return http_get("127.0.0.1", port, path, method, limit);
}

http_result http_get(const std::string& host, uint16_t port, const std::string& path,
                     const std::string& method, std::chrono::milliseconds limit,
                     const std::string& extra_headers) {
  http_result r;
  int fd = connect_to(host, port);
  if (fd < 0) return r;
  const auto deadline = clock::now() + limit;
  std::string raw;
  if (send_all(fd, method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra_headers +
                       "\r\n")) {
    const bool head = method == "HEAD";
    read_until(fd, raw, deadline, [&](const std::string& s) {
      auto end = s.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      if (head) return true;
      auto lower = s.substr(0, end);
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      auto cl = lower.find("content-length:");
      if (cl == std::string::npos) return false;  // until close
      return s.size() >= end + 4 + std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
    });
  }
  ::close(fd);
  auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  std::istringstream lines(raw.substr(0, end));
  std::string line;
  std::getline(lines, line);  // the status line
  while (std::getline(lines, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (!value.empty() && value.back() == '\r') value.pop_back();
    r.headers[name] = value;
  }
  r.body = raw.substr(end + 4);
  return r;
}

std::string http_raw(uint16_t port, const std::string& bytes, std::chrono::milliseconds limit) {
  int fd = connect_to("127.0.0.1", port);
  if (fd < 0) return {};
  std::string out;
  if (send_all(fd, bytes))
    read_until(fd, out, clock::now() + limit, [](const std::string&) { return false; });
  ::close(fd);
  return out;
}

int http_idle_connection(uint16_t port) {
  return connect_to("127.0.0.1", port);
}

bool closed_by_peer(int fd, std::chrono::milliseconds limit) {
  bool closed = false;
  std::string ignored;
  const auto deadline = clock::now() + limit;
  char buf[256];
  while (!closed && clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) break;
    closed = ::read(fd, buf, sizeof buf) <= 0;
  }
  return closed;
}

std::string promtool_missing() {
  if (find_on_path("promtool").empty())
    return "promtool is not installed (Debian package prometheus; scripts/setup.sh)";
  return "";
}

int promtool_check(const std::string& text, std::string* out) {
  temp_dir d;
  std::ofstream(d / "metrics.txt") << text;
  std::string err;
  int code = run_capture(
      {"/bin/sh", "-c", "promtool check metrics < '" + (d / "metrics.txt") + "'"}, out, &err);
  *out += err;
  return code;
}

namespace {

// A series as "name" and its labels by name: `name{a="x",b="y"}` with the exposition's
// escapes (\\, \", \n) in values. False when `s` is not one.
bool parse_series(const std::string& s, std::string* name,
                  std::map<std::string, std::string>* labels) {
  auto brace = s.find('{');
  *name = s.substr(0, brace);
  labels->clear();
  if (brace == std::string::npos) return !name->empty();
  size_t i = brace + 1;
  while (i < s.size() && s[i] != '}') {
    auto eq = s.find("=\"", i);
    if (eq == std::string::npos) return false;
    std::string key = s.substr(i, eq - i), value;
    for (i = eq + 2; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        ++i;
        value += s[i] == 'n' ? '\n' : s[i];
      } else {
        value += s[i];
      }
    }
    if (i >= s.size()) return false;
    (*labels)[key] = value;
    ++i;  // the closing quote
    if (i < s.size() && s[i] == ',') ++i;
  }
  return i + 1 == s.size();
}

}  // namespace

double metric_value(const std::string& text, const std::string& series) {
  std::string want_name, name;
  std::map<std::string, std::string> want_labels, labels;
  if (!parse_series(series, &want_name, &want_labels)) return -1;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.compare(0, want_name.size(), want_name) != 0)
      continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos || !parse_series(line.substr(0, space), &name, &labels))
      continue;
    if (name == want_name && labels == want_labels)
      return std::strtod(line.c_str() + space + 1, nullptr);
  }
  return -1;
}

}  // namespace tessera::test
