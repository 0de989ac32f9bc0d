#include "actors/registry_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tessera {
namespace {

using json = nlohmann::json;

std::vector<tensor_record> tensors_of(const submodel_entry& s) {
  std::vector<tensor_record> out;
  for (const auto& t : s.tensors) {
    tensor_record tr;
    tr.tensor = t.tensor;
    for (const auto& sh : t.shards) {
      shard_record sr{sh.index, sh.rows.begin, sh.rows.end, sh.bytes, {}};
      for (const auto& r : sh.replicas)
        if (r.state != replica_state::unloaded && !r.spare)  // spares are temporary
          sr.replicas.push_back({r.node, r.replica_id});
      tr.shards.push_back(std::move(sr));
    }
    out.push_back(std::move(tr));
  }
  return out;
}

json tensors_json(const std::vector<tensor_record>& ts) {
  json out = json::array();
  for (const auto& t : ts) {
    json shards = json::array();
    for (const auto& s : t.shards) {
      json reps = json::array();
      for (const auto& r : s.replicas) reps.push_back({{"node", r.node}, {"id", r.id}});
      shards.push_back({{"index", s.index},
                        {"begin", s.begin},
                        {"end", s.end},
                        {"bytes", s.bytes},
                        {"replicas", reps}});
    }
    out.push_back({{"tensor", t.tensor}, {"shards", shards}});
  }
  return out;
}

std::vector<tensor_record> parse_tensors(const json& j) {
  std::vector<tensor_record> out;
  for (const auto& t : j) {
    tensor_record tr;
    tr.tensor = t.at("tensor").get<std::string>();
    for (const auto& s : t.at("shards")) {
      shard_record sr;
      sr.index = s.at("index").get<uint64_t>();
      sr.begin = s.at("begin").get<uint64_t>();
      sr.end = s.at("end").get<uint64_t>();
      sr.bytes = s.at("bytes").get<uint64_t>();
      if (sr.end <= sr.begin) throw std::runtime_error("shard of " + tr.tensor + " is empty");
      for (const auto& r : s.at("replicas"))
        sr.replicas.push_back({r.at("node").get<std::string>(), r.at("id").get<std::string>()});
      tr.shards.push_back(std::move(sr));
    }
    out.push_back(std::move(tr));
  }
  return out;
}

version_state state_from(const std::string& s) {
  if (s == "ready") return version_state::ready;
  if (s == "serving") return version_state::serving;
  throw std::runtime_error("version state '" + s + "' is not ready or serving");
}

}  // namespace

registry_snapshot snapshot_of(const registry& reg, const std::string& incarnation) {
  registry_snapshot out;
  out.incarnation = incarnation;
  out.epoch = reg.epoch();
  out.retired = reg.retired();
  for (const auto& [key, m] : reg.models()) {
    model_record mr;
    mr.key = key;
    mr.next_version = m.next_version;
    for (const auto& [n, v] : m.versions) {
      if (!v->serves()) continue;
      version_record vr;
      vr.version = n;
      vr.epoch = v->epoch;
      vr.embedder_epoch = v->embedder ? v->embedder->epoch : 0;
      vr.path = v->path;
      vr.content = v->content;
      vr.state = v->state;
      vr.exact_pooling = v->exact_pooling;
      vr.replicas = v->replicas;
      if (v->embedder) vr.embedder = tensors_of(*v->embedder);
      if (v->classifier) vr.classifier = tensors_of(*v->classifier);
      if (!v->embedder_model.empty()) {
        vr.embedder_model = v->embedder_model;
        vr.embedder_version = v->embedder_version;
        vr.embedder_path = v->embedder->path;
      }
      mr.versions.push_back(std::move(vr));
    }
    auto kept = [&](uint64_t v) {
      for (const auto& vr : mr.versions)
        if (vr.version == v) return true;
      return false;
    };
    mr.active = kept(m.active) ? m.active : 0;
    mr.previous = kept(m.previous) ? m.previous : 0;
    for (const auto& [l, v] : m.labels)
      if (kept(v)) mr.labels[l] = v;
    if (!mr.versions.empty())
      out.models.push_back(std::move(mr));
    else  // only versions still loading: their numbers are issued all the same
      out.retired[key] = std::max(out.retired[key], m.next_version);
  }
  return out;
}

std::string to_json(const registry_snapshot& s) {
  json models = json::array();
  for (const auto& m : s.models) {
    json versions = json::array();
    for (const auto& v : m.versions) {
      versions.push_back({{"version", v.version},
                          {"epoch", v.epoch},
                          {"embedder_epoch", v.embedder_epoch},
                          {"path", v.path},
                          {"content", v.content},
                          {"state", to_string(v.state)},
                          {"exact_pooling", v.exact_pooling},
                          {"replicas", v.replicas},
                          {"embedder", tensors_json(v.embedder)},
                          {"classifier", tensors_json(v.classifier)}});
      if (!v.embedder_model.empty())
        versions.back().update({{"embedder_model", v.embedder_model},
                                {"embedder_version", v.embedder_version},
                                {"embedder_path", v.embedder_path}});
    }
    models.push_back({{"tenant", m.key.tenant.name()},
                      {"name", m.key.name},
                      {"next_version", m.next_version},
                      {"active", m.active},
                      {"previous", m.previous},
                      {"labels", m.labels},
                      {"versions", versions}});
  }
  json retired = json::array();
  for (const auto& [key, next] : s.retired)
    retired.push_back({{"tenant", key.tenant.name()}, {"name", key.name}, {"next_version", next}});
  json root = {{"format", registry_snapshot::current_format},
               {"incarnation", s.incarnation},
               {"epoch", s.epoch},
               {"models", models},
               {"draining", s.draining},
               {"retired", retired}};
  return root.dump(1) + "\n";
}

caf::expected<registry_snapshot> snapshot_from_json(const std::string& text) {
  try {
    auto root = json::parse(text);
    const auto format = root.at("format").get<uint32_t>();
    if (format != registry_snapshot::current_format && format != 1)
      return make_error(errc::invalid_argument,
                        "registry state has format " + root.at("format").dump() +
                            ", expected 1 or " + std::to_string(registry_snapshot::current_format));
    // Format 1 named a tenant's model "T/N"; format 2 keeps the tenant in its own field.
    auto key_of = [format](const json& j) -> model_key {
      if (format == 1) return model_key::from_display(j.at("name").get<std::string>());
      return {tenant_id{j.at("tenant").get<std::string>()}, j.at("name").get<std::string>()};
    };
    registry_snapshot s;
    s.incarnation = root.at("incarnation").get<std::string>();
    s.epoch = root.at("epoch").get<uint64_t>();
    if (root.contains("draining"))  // absent in files written before drains existed
      s.draining = root.at("draining").get<std::vector<std::string>>();
    if (format != 1) {
      for (const auto& r : root.at("retired"))
        s.retired[key_of(r)] = r.at("next_version").get<uint64_t>();
    } else if (root.contains("retired")) {  // absent in files before names were retired
      for (const auto& [name, next] : root.at("retired").get<std::map<std::string, uint64_t>>())
        s.retired[model_key::from_display(name)] = next;
    }
    for (const auto& m : root.at("models")) {
      model_record mr;
      mr.key = key_of(m);
      mr.next_version = m.at("next_version").get<uint64_t>();
      mr.active = m.at("active").get<uint64_t>();
      mr.previous = m.at("previous").get<uint64_t>();
      mr.labels = m.at("labels").get<std::map<std::string, uint64_t>>();
      for (const auto& v : m.at("versions")) {
        version_record vr;
        vr.version = v.at("version").get<uint64_t>();
        vr.epoch = v.at("epoch").get<uint64_t>();
        vr.embedder_epoch = v.at("embedder_epoch").get<uint64_t>();
        vr.path = v.at("path").get<std::string>();
        vr.content = v.at("content").get<std::string>();
        vr.state = state_from(v.at("state").get<std::string>());
        vr.exact_pooling = v.at("exact_pooling").get<bool>();
        if (v.contains("replicas"))  // absent in files written before R was kept
          vr.replicas = v.at("replicas").get<uint32_t>();
        vr.embedder = parse_tensors(v.at("embedder"));
        vr.classifier = parse_tensors(v.at("classifier"));
        if (v.contains("embedder_model")) {  // composed versions only
          vr.embedder_model = v.at("embedder_model").get<std::string>();
          vr.embedder_version = v.at("embedder_version").get<uint64_t>();
          vr.embedder_path = v.at("embedder_path").get<std::string>();
        }
        mr.versions.push_back(std::move(vr));
      }
      s.models.push_back(std::move(mr));
    }
    if (auto err = validate_snapshot(s)) return err;
    return s;
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, std::string{"registry state: "} + e.what());
  }
}

namespace {

bool valid_key(const model_key& k) {
  return valid_name(k.tenant.name()) && valid_name(k.name);
}

}  // namespace

caf::error validate_snapshot(const registry_snapshot& s) {
  auto bad = [](const std::string& what) {
    return make_error(errc::invalid_argument, "registry state: " + what);
  };
  std::set<model_key> names;
  std::set<uint64_t> classifier_epochs;
  std::map<uint64_t, std::string> embedder_epochs;  // epoch -> the first version naming it
  for (const auto& m : s.models) {
    const auto who = "model '" + m.key.display() + "'";
    if (!valid_key(m.key)) return bad(who + " has an invalid name or tenant");
    if (!names.insert(m.key).second) return bad(who + " is listed twice");
    if (s.retired.count(m.key)) return bad(who + " is both a model and retired");
    if (m.versions.empty()) return bad(who + " has no versions");
    std::set<uint64_t> numbers;
    uint64_t serving = 0;
    for (const auto& v : m.versions) {
      const auto vwho = who + " v" + std::to_string(v.version);
      if (v.version == 0) return bad(who + " has a version 0");
      if (!numbers.insert(v.version).second) return bad(vwho + " is listed twice");
      if (v.version >= m.next_version)
        return bad(vwho + " is not below its next_version " + std::to_string(m.next_version) +
                   " (a new load would issue that number again)");
      if (v.epoch == 0 || v.epoch > s.epoch || v.embedder_epoch == 0 || v.embedder_epoch > s.epoch)
        return bad(vwho + " has an epoch of 0 or beyond the registry's epoch " +
                   std::to_string(s.epoch));
      if (!classifier_epochs.insert(v.epoch).second)
        return bad(vwho + " reuses epoch " + std::to_string(v.epoch));
      embedder_epochs.emplace(v.embedder_epoch, vwho);
      if (v.state == version_state::serving) {
        if (serving != 0) return bad(who + " has two serving versions");
        serving = v.version;
      }
    }
    if (m.active != serving)
      return bad(who + " has active " + std::to_string(m.active) + " but its serving version is " +
                 std::to_string(serving) + " (0: none)");
    if (m.previous != 0 && (m.previous == m.active || !numbers.count(m.previous)))
      return bad(who + " has previous " + std::to_string(m.previous) +
                 ", not another of its versions");
    for (const auto& [label, v] : m.labels) {
      if (!valid_name(label) || std::all_of(label.begin(), label.end(), ::isdigit))
        return bad(who + " has an invalid label name '" + label + "'");
      if (!numbers.count(v))
        return bad(who + " label '" + label + "' points at missing version " + std::to_string(v));
    }
  }
  for (const auto& [e, vwho] : embedder_epochs)
    if (classifier_epochs.count(e))
      return bad(vwho + "'s embedder epoch " + std::to_string(e) + " is also a classifier's");
  for (const auto& [key, next] : s.retired)
    if (!valid_key(key) || next == 0)
      return bad("retired name '" + key.display() + "' is invalid or has next version 0");
  return caf::none;
}

caf::error write_snapshot(const std::string& dir, const registry_snapshot& s) {
  auto fail = [&](const std::string& what) {
    return make_error(errc::io_error, what + ": " + std::strerror(errno));
  };
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail("cannot create " + dir);
  const std::string path = dir + "/registry.json", tmp = path + ".tmp";
  const auto text = to_json(s);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot write " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return fail("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename " + tmp);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return caf::none;
}

caf::expected<std::optional<registry_snapshot>> read_snapshot(const std::string& dir) {
  const std::string path = dir + "/registry.json";
  struct stat sb {};
  if (::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode))
    return make_error(errc::io_error, "cannot read " + path + ": is a directory");
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<registry_snapshot>{};
    return make_error(errc::io_error, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto s = snapshot_from_json(text.str());
  if (!s) return make_error(errc::invalid_argument, path + ": " + message_of(s.error()));
  return std::optional<registry_snapshot>{std::move(*s)};
}

std::string new_incarnation() {
  std::random_device rd;
  char hex[33];
  std::snprintf(hex, sizeof hex, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return hex;
}

}  // namespace tessera
