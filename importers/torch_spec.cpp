#include "importers/torch_spec.hpp"

#include <set>
#include <sstream>

#include "base/toml.hpp"

namespace tessera {
namespace {

// Thrown inside the parser only; parse_torch_spec turns it into invalid_argument.
struct spec_error {
  std::string what;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw spec_error{where + ": " + what};
}

void check_keys(const toml::table& t, const std::string& where,
                std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || k.str() == a;
    if (!ok) fail(where, "unknown key '" + std::string(k.str()) + "'");
  }
}

std::optional<std::string> get_string(const toml::table& t, const std::string& where,
                                      const char* key, bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) fail(where, std::string("is missing key '") + key + "'");
    return std::nullopt;
  }
  auto v = n->value_exact<std::string>();
  if (!v) fail(where, std::string("key '") + key + "' must be a string");
  if (v->empty()) fail(where, std::string("key '") + key + "' is empty");
  return v;
}

template <class Enum, size_t N>
Enum get_enum(const toml::table& t, const std::string& where, const char* key,
              const char* const (&names)[N], Enum fallback) {
  auto s = get_string(t, where, key, false);
  if (!s) return fallback;
  for (size_t i = 0; i < N; ++i)
    if (*s == names[i]) return static_cast<Enum>(i);
  std::string allowed;
  for (size_t i = 0; i < N; ++i) allowed += (i ? " | " : "") + std::string(names[i]);
  fail(where, std::string("key '") + key + "' is '" + *s + "', not one of " + allowed);
}

const char* const bag_names[] = {"sum", "mean", "max"};
const char* const output_names[] = {"softmax", "sigmoid", "none"};
const char* const activation_names[] = {"none", "relu", "tanh", "sigmoid"};  // activation_kind

// Calls fn(table, "key[i]") for each table of the array of tables `key` (none when absent).
template <class Fn>
void each_table(const toml::table& root, const char* key, Fn&& fn) {
  const toml::node* n = root.get(key);
  if (!n) return;
  if (!n->is_array()) fail(key, "must be an array of tables ([[" + std::string(key) + "]])");
  const auto& items = *n->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    const auto* t = items[i].as_table();
    if (!t) fail(where, "must be a table");
    fn(*t, where);
  }
}

torch_table_spec parse_table(const toml::table& t, const std::string& where) {
  check_keys(t, where, {"name", "tensor", "mode", "padding_idx"});
  torch_table_spec s;
  s.name = *get_string(t, where, "name", true);
  s.tensor = *get_string(t, where, "tensor", true);
  s.mode = get_enum(t, where, "mode", bag_names, bag_mode::mean);
  if (const toml::node* p = t.get("padding_idx")) {
    auto v = p->value_exact<int64_t>();
    if (!v) fail(where, "key 'padding_idx' must be an integer");
    s.padding_idx = *v;
  }
  return s;
}

torch_layer_spec parse_layer(const toml::table& t, const std::string& where) {
  check_keys(t, where, {"weight", "bias", "activation"});
  torch_layer_spec l;
  l.weight = *get_string(t, where, "weight", true);
  l.bias = get_string(t, where, "bias", false).value_or("");
  l.activation = get_enum(t, where, "activation", activation_names, activation_kind::none);
  return l;
}

torch_spec parse_root(const toml::table& root) {
  check_keys(root, "the spec", {"name", "tables", "layers", "output"});
  torch_spec spec;
  spec.name = get_string(root, "the spec", "name", false).value_or("");
  std::set<std::string> names;
  each_table(root, "tables", [&](const toml::table& t, const std::string& where) {
    spec.tables.push_back(parse_table(t, where));
    if (!names.insert(spec.tables.back().name).second)
      fail(where, "a second table named '" + spec.tables.back().name + "'");
  });
  each_table(root, "layers", [&](const toml::table& l, const std::string& where) {
    spec.layers.push_back(parse_layer(l, where));
  });
  if (const toml::node* o = root.get("output")) {
    const auto* out = o->as_table();
    if (!out) fail("output", "must be a table ([output])");
    if (spec.layers.empty()) fail("output", "needs [[layers]]");
    check_keys(*out, "[output]", {"kind", "labels"});
    spec.output = get_enum(*out, "[output]", "kind", output_names, torch_output_kind::none);
    if (const toml::node* l = out->get("labels")) {
      const auto* labels = l->as_array();
      if (!labels) fail("[output]", "key 'labels' must be an array of strings");
      for (const auto& label : *labels) {
        auto v = label.value_exact<std::string>();
        if (!v || v->empty() || v->find('\n') != std::string::npos)
          fail("[output]", "key 'labels' must hold non-empty one-line strings");
        spec.labels.push_back(*v);
      }
    }
  }
  if (spec.tables.empty() && spec.layers.empty())
    fail("the spec", "has neither [[tables]] nor [[layers]]");
  return spec;
}

caf::error bad(const std::string& what) {
  return make_error(errc::invalid_argument, "spec: " + what);
}

std::string shape_of(const st::tensor_info& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

}  // namespace

const char* to_string(bag_mode m) {
  return bag_names[static_cast<int>(m)];
}

const char* to_string(torch_output_kind k) {
  return output_names[static_cast<int>(k)];
}

uint64_t torch_shapes::pooled_dim() const {
  uint64_t d = 0;
  for (const auto& t : tables) d += t.dim;
  return d;
}

caf::expected<torch_spec> parse_torch_spec(std::string_view text, const std::string& origin) {
  try {
    return parse_root(toml::parse(text, origin));
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.description() << " (line " << e.source().begin.line << ")";
    return make_error(errc::invalid_argument, origin + ": " + os.str());
  } catch (const spec_error& e) {
    return make_error(errc::invalid_argument, origin + ": " + e.what);
  }
}

caf::expected<torch_shapes> check_torch_spec(torch_spec& spec, const st::reader& file) {
  torch_shapes out;
  std::set<std::string> used;
  auto tensor = [&](const std::string& name,
                    const std::string& part) -> caf::expected<const st::tensor_info*> {
    const auto* t = file.find(name);
    if (!t) return bad(part + " names tensor '" + name + "', which the file does not hold");
    if (!used.insert(name).second) return bad(part + " uses tensor '" + name + "' a second time");
    return t;
  };
  // A tensor that must be 2-D with both dimensions above 0; `role` and `dims` name it in the
  // refusal ("tensor", "[rows, dim]").
  auto matrix = [&](const std::string& name, const std::string& part, const char* role,
                    const char* dims) -> caf::expected<const st::tensor_info*> {
    auto t = tensor(name, part);
    if (!t) return t;
    const auto& ti = **t;
    if (ti.shape.size() != 2 || ti.shape[0] == 0 || ti.shape[1] == 0)
      return bad(part + ": " + role + " '" + ti.name + "' has shape " + shape_of(ti) + ", not " +
                 dims + " with both above 0");
    return t;
  };
  for (const auto& tab : spec.tables) {
    const std::string part = "table '" + tab.name + "'";
    auto t = matrix(tab.tensor, part, "tensor", "[rows, dim]");
    if (!t) return t.error();
    const auto& ti = **t;
    torch_shapes::table s{ti.shape[0], ti.shape[1], std::nullopt};
    if (tab.padding_idx) {
      const int64_t rows = static_cast<int64_t>(s.rows), p = *tab.padding_idx;
      if (p < -rows || p >= rows)
        return bad(part + ": padding_idx " + std::to_string(p) + " is outside [" +
                   std::to_string(-rows) + ", " + std::to_string(rows) + ")");
      s.padding_idx = static_cast<uint64_t>(p < 0 ? p + rows : p);
    }
    out.tables.push_back(s);
  }
  uint64_t in = spec.tables.empty() ? 0 : out.pooled_dim();
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& l = spec.layers[i];
    const std::string part = "layer " + std::to_string(i);
    auto w = matrix(l.weight, part, "weight", "[out, in]");
    if (!w) return w.error();
    const auto& wi = **w;
    if (in != 0 && wi.shape[1] != in)
      return bad(part + ": weight '" + wi.name + "' takes " + std::to_string(wi.shape[1]) +
                 " inputs, but " + (i == 0 ? "the tables pool " : "the layer before yields ") +
                 std::to_string(in));
    if (!l.bias.empty()) {
      auto b = tensor(l.bias, part);
      if (!b) return b.error();
      if ((*b)->shape != std::vector<uint64_t>{wi.shape[0]})
        return bad(part + ": bias '" + (*b)->name + "' has shape " + shape_of(**b) + ", not [" +
                   std::to_string(wi.shape[0]) + "]");
    }
    out.layers.push_back({wi.shape[0], wi.shape[1]});
    in = wi.shape[0];
  }
  if (!spec.layers.empty()) {
    const uint64_t n = out.layers.back().out;
    if (spec.labels.empty())
      for (uint64_t i = 0; i < n; ++i) spec.labels.push_back(std::to_string(i));
    else if (spec.labels.size() != n)
      return bad("[output] has " + std::to_string(spec.labels.size()) +
                 " labels, but the last layer yields " + std::to_string(n));
  }
  return out;
}

}  // namespace tessera
