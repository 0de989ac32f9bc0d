#pragma once
// Integration-test support: reading the shipped deployment files (deploy/systemd/) the way
// systemd would, so a test starts nodes from exactly what operators install. Only what
// tessera-node@.service uses is understood: the [Service] keys below, `%i`, `%%`, and `${VAR}`
// / `$VAR` from the EnvironmentFile. Sandboxing and restart keys (User=, ProtectSystem=,
// Restart=, ...) are systemd's business and are not imitated.
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tessera::test {

// The [Service] settings of a unit file that say how its process starts, as written.
struct service_unit {
  std::string exec_start;
  std::string working_directory;
  std::string environment_file;
};

// Reads `path`; throws std::runtime_error when it cannot be read or lacks ExecStart. A line
// continued with a trailing backslash, or an ExecStart with a prefix (`-`, `@`, `+`, `!`), is
// refused rather than misread.
service_unit read_service_unit(const std::string& path);

// KEY=VALUE lines of an environment file, as systemd's EnvironmentFile= reads them: blank
// lines and lines starting with '#' or ';' skipped, one pair of surrounding quotes removed.
// Throws std::runtime_error when it cannot be read or a line is not KEY=VALUE.
std::map<std::string, std::string> read_env_file(const std::string& path);

// The argv of ExecStart `line` for instance `instance`: words split on whitespace, `%i` ->
// instance, `%%` -> `%`, `${VAR}` inside a word and `$VAR` as a whole word -> env[VAR]
// (unset: empty, as systemd does). Throws std::runtime_error on any other specifier.
std::vector<std::string> expand_exec_start(const std::string& line, const std::string& instance,
                                           const std::map<std::string, std::string>& env);

// `text` with every occurrence of each `from` replaced by its `to`, in order (e.g. the
// install paths /etc/tessera, /var/lib/tessera, /usr/local/bin moved under a test's dir).
std::string rewrite_paths(std::string text,
                          const std::vector<std::pair<std::string, std::string>>& moves);

}  // namespace tessera::test
