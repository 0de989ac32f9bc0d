#include "tests/support/deploy_files.hpp"

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tessera::test {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

service_unit read_service_unit(const std::string& path) {
  service_unit unit;
  std::string section;
  for (const auto& raw : read_lines(path)) {
    auto line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.back() == '\\') throw std::runtime_error(path + ": continued lines are not read");
    if (line.front() == '[') {
      section = line;
      continue;
    }
    auto eq = line.find('=');
    if (section != "[Service]" || eq == std::string::npos) continue;
    auto key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "ExecStart") unit.exec_start = value;
    if (key == "WorkingDirectory") unit.working_directory = value;
    if (key == "EnvironmentFile") unit.environment_file = value;
  }
  if (unit.exec_start.empty()) throw std::runtime_error(path + ": no ExecStart in [Service]");
  if (std::string("-@+!:").find(unit.exec_start[0]) != std::string::npos)
    throw std::runtime_error(path + ": ExecStart prefixes are not read");
  return unit;
}

std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> env;
  for (const auto& raw : read_lines(path)) {
    auto line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error(path + ": not KEY=VALUE: " + line);
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0])
      value = value.substr(1, value.size() - 2);
    env[trim(line.substr(0, eq))] = value;
  }
  return env;
}

std::vector<std::string> expand_exec_start(const std::string& line, const std::string& instance,
                                           const std::map<std::string, std::string>& env) {
  auto lookup = [&](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string{} : it->second;
  };
  std::vector<std::string> argv;
  std::istringstream words(line);
  for (std::string w; words >> w;) {
    if (w.size() > 1 && w[0] == '$' && w[1] != '{') {  // $VAR: the whole word
      argv.push_back(lookup(w.substr(1)));
      continue;
    }
    std::string out;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == '%') {
        if (i + 1 < w.size() && w[i + 1] == 'i') {
          out += instance;
        } else if (i + 1 < w.size() && w[i + 1] == '%') {
          out += '%';
        } else {
          throw std::runtime_error("ExecStart specifier not understood in: " + w);
        }
        ++i;
      } else if (w.compare(i, 2, "${") == 0) {
        auto close = w.find('}', i);
        auto name = close == std::string::npos ? "" : w.substr(i + 2, close - i - 2);
        for (char c : name)
          if (!is_name_char(c)) name.clear();
        if (name.empty()) throw std::runtime_error("bad ${...} in ExecStart word: " + w);
        out += lookup(name);
        i = close;
      } else {
        out += w[i];
      }
    }
    argv.push_back(out);
  }
  return argv;
}

std::string rewrite_paths(std::string text,
                          const std::vector<std::pair<std::string, std::string>>& moves) {
  for (const auto& [from, to] : moves) {
    std::string out;
    size_t at = 0;
    for (auto hit = text.find(from); hit != std::string::npos; hit = text.find(from, at)) {
      out += text.substr(at, hit - at) + to;
      at = hit + from.size();
    }
    text = out + text.substr(at);
  }
  return text;
}

}  // namespace tessera::test
