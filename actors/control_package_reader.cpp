#include "actors/control_package_reader.hpp"

#include <algorithm>

#include "actors/control_state.hpp"
#include "actors/registry.hpp"
#include "actors/version_builder.hpp"
#include "base/logger.hpp"
#include "package/kept_package.hpp"

namespace tessera {

package_reader_actor::behavior_type package_reader_impl(std::string keep_root,
                                                        std::chrono::seconds sweep_age) {
  return {
      [keep_root](describe_atom, const load_request& req) -> caf::result<described_version> {
        auto pkg = package::open(req.path);
        if (!pkg) return pkg.error();
        auto bare = req.name.empty() ? pkg->meta().name : req.name;
        if (!valid_name(bare))
          return make_error(errc::invalid_argument,
                            "model name '" + bare + "' must be 1-128 of [A-Za-z0-9_.-]");
        auto v = std::make_shared<version_entry>();
        v->model = model_key{req.tenant, bare};
        v->exact_pooling = req.exact_pooling;
        v->replicas = std::max<uint32_t>(req.replicas, 1);
        v->embedder_model = req.embedder_model;
        v->embedder_version = req.embedder_version;
        if (req.embedder_path.empty()) {
          if (auto err = describe_version(*v, *pkg)) return err;
        } else {
          auto emb = package::open(req.embedder_path);
          if (!emb) return emb.error();
          if (auto err = describe_version(*v, *pkg, &*emb)) return err;
        }
        if (v->exact_pooling)
          if (auto err = v->family->allows_exact_pooling()) return err;
        // Composed versions still need both packages at their paths to recover.
        if (!keep_root.empty() && req.embedder_path.empty())
          if (auto err = keep_package_meta(*pkg, kept_package_dir(keep_root, v->content)))
            return make_error(code_of(err), "cannot keep the package's metadata in state_dir: " +
                                                message_of(err));
        return described_version{std::move(v)};
      },
      [keep_root, sweep_age](sweep_atom, const std::set<std::string>& live) {
        if (keep_root.empty()) return;
        if (auto n = sweep_kept(keep_root, live, sweep_age); n > 0)
          control_log()->info("deleted the kept metadata of {} packages no version uses", n);
      },
  };
}

}  // namespace tessera
