#pragma once
// A minimal HTTP/1.1 client for the nodes' operational endpoints: one request per connection
// (to 127.0.0.1 unless an IPv4 host is given), blocking, with a deadline. Independent of kj-http,
// so it checks the server's bytes rather than trusting the same library on both ends.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace tessera::test {

struct http_result {
  int status = 0;                              // 0: no parsable answer (refused, closed, timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends `method path` and reads the answer (Content-Length bytes of body, or until close).
http_result http_get(uint16_t port, const std::string& path, const std::string& method = "GET",
                     std::chrono::milliseconds limit = std::chrono::seconds(10));

// The same to IPv4 address `host` (e.g. a host in a network namespace lab), with
// `extra_headers` (whole lines, each ending "\r\n", e.g. "Authorization: Bearer t\r\n").
http_result http_get(const std::string& host, uint16_t port, const std::string& path,
                     const std::string& method = "GET",
                     std::chrono::milliseconds limit = std::chrono::seconds(10),
                     const std::string& extra_headers = "");

// Sends `bytes` as they are and returns whatever comes back until the peer closes or `limit`
// passes.
std::string http_raw(uint16_t port, const std::string& bytes,
                     std::chrono::milliseconds limit = std::chrono::seconds(10));

// A connection to 127.0.0.1:port that sends nothing (its fd, -1 when refused); close it with
// ::close.
int http_idle_connection(uint16_t port);

// Whether the peer closes `fd` (EOF or reset) within `limit`, reading and dropping any bytes.
bool closed_by_peer(int fd, std::chrono::milliseconds limit);

// Why `promtool` (Prometheus' own checker) cannot be used here, or "" when it is on $PATH.
std::string promtool_missing();

// Runs `promtool check metrics` on `text`: its exit code; its complaints in *out.
int promtool_check(const std::string& text, std::string* out);

// The value of the sample `series` (a metric name with all its labels, in any order, e.g.
// `tessera_requests_total{model="m",kind="predict",status="ok"}`) in a /metrics text; -1 when
// absent.
double metric_value(const std::string& text, const std::string& series);

}  // namespace tessera::test
