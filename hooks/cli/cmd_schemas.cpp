#include <CLI/CLI.hpp>

#include <iostream>

#include "hooks/cli/command.hpp"
#include "shared/kube/client.hpp"
#include "shared/schema/store.hpp"
#include "shared/util/fs.hpp"

namespace portcullis::hooks::cli {

Runner setup_schemas(CLI::App& app) {
  struct Options {
    std::string openapi;
    std::string kubeconfig;
    std::string context;
    std::string out;
  };
  auto o = std::make_shared<Options>();
  app.footer("Manage the schema store that the gate validates manifests against.");
  app.require_subcommand(1);
  CLI::App* import = app.add_subcommand(
      "import",
      "Build the schema store from a cluster's OpenAPI v2 document: from a file (kubectl get --raw "
      "/openapi/v2 > FILE) or fetched from the cluster a kubeconfig names. Writes one JSON Schema per "
      "group/version/kind and a compiled store the hook maps at no cost; replaces an existing store "
      "atomically.");
  auto* source = import->add_option_group("source", "where the OpenAPI document comes from");
  source->add_option("--openapi", o->openapi, "OpenAPI v2 document (JSON)");
  source->add_option("--kubeconfig", o->kubeconfig, "kubeconfig of the cluster to fetch /openapi/v2 from");
  source->require_option(1);
  import->add_option("--context", o->context, "kubeconfig context (default: current-context)");
  import->add_option("--out", o->out, "store directory, e.g. /var/lib/portcullis/schemas")->required();
  return [o] {
    std::string document;
    if (!o->openapi.empty()) {
      auto text = util::read_file(o->openapi, 256 << 20);
      if (!text) {
        std::cerr << "portcullis schemas import: " << text.error().message << "\n";
        return int(k_exit_usage);
      }
      document = std::move(*text);
    } else {
      auto conn = kube::load_kubeconfig(o->kubeconfig, o->context);
      if (!conn) {
        std::cerr << "portcullis schemas import: " << conn.error().message << "\n";
        return int(k_exit_usage);
      }
      auto client = kube::Client::connect(*conn);
      if (!client) {
        std::cerr << "portcullis schemas import: " << client.error().message << "\n";
        return int(k_exit_usage);
      }
      auto res = client->get("/openapi/v2");
      if (!res) {
        std::cerr << "portcullis schemas import: " << res.error().message << "\n";
        return int(k_exit_usage);
      }
      if (res->status != 200) {
        std::cerr << "portcullis schemas import: GET /openapi/v2 answered HTTP " << res->status << ": "
                  << res->body.substr(0, 300) << "\n";
        return int(k_exit_usage);
      }
      document = std::move(res->body);
    }
    auto summary = schema::import_openapi_v2(document, o->out);
    if (!summary) {
      std::cerr << "portcullis schemas import: " << summary.error().describe() << "\n";
      return int(k_exit_usage);
    }
    std::cout << "imported " << summary->kinds << " kinds (" << summary->namespaced << " namespaced, "
              << summary->cluster << " cluster-scoped) from " << summary->definitions << " definitions into "
              << o->out << "\n";
    return int(k_exit_ok);
  };
}

}  // namespace portcullis::hooks::cli
