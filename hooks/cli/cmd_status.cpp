#include <httplib.h>
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "hooks/cli/command.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::hooks::cli {

namespace {

// The image automation table (GET /v1/images); "" when the daemon has none or answers nothing.
std::string images_table(httplib::ClientImpl& http, const std::string& prefix, const httplib::Headers& headers) {
  auto res = http.Get(prefix + "/v1/images", headers);
  if (!res || res->status != 200) return {};
  auto doc = yaml::parse_json(res->body);
  const yaml::Node* images =
      doc && !doc->documents.empty() && doc->documents[0].root ? doc->documents[0].root->get("images") : nullptr;
  if (!images || !images->is_sequence() || images->items.empty()) return {};
  std::ostringstream t;
  t << "\n" << std::left << std::setw(20) << "IMAGE POLICY" << std::setw(14) << "ENVIRONMENT" << std::setw(21) << "STATE"
    << std::setw(24) << "CHOSEN" << std::setw(14) << "LAST COMMIT" << "REASON\n";
  for (const yaml::Node* i : images->items) {
    std::string reason(i->get_string("reason"));
    if (auto nl = reason.find('\n'); nl != std::string::npos) reason = reason.substr(0, nl) + " ...";
    t << std::setw(20) << i->get_string("policy") << std::setw(14) << i->get_string("environment") << std::setw(21)
      << i->get_string("state") << std::setw(24) << i->get_string("chosen").substr(0, 23) << std::setw(14)
      << i->get_string("lastCommit").substr(0, 12) << reason << "\n";
  }
  return t.str();
}

}  // namespace

Runner setup_status(CLI::App& app) {
  struct Options {
    std::string daemon = "http://127.0.0.1:9440";
    std::string ca_file;
    std::string token_file;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  app.footer(
      "Print the reconciler's targets: state, health, desired and applied revision, objects, drifted "
      "objects, last "
      "sync and the first problem (error, blocked prune, self-heal loop, drift, unhealthy object). "
      "A target whose repository cannot be fetched is SourceUnavailable (MESSAGE: since when and why). "
      "With image automation on, a second table shows each image policy per environment (GET /v1/images). "
      "Exit status: 0 when every target is Synced, 1 otherwise, 2 when the daemon cannot be reached.");
  app.add_option("--daemon", o->daemon, "portcullisd's URL")->capture_default_str();
  app.add_option("--ca-file", o->ca_file, "CA of the daemon's certificate (https)");
  app.add_option("--token-file", o->token_file,
                 "file holding the daemon's read token (api.readTokenFile), for a daemon off loopback");
  app.add_flag("--json", o->json, "print the daemon's JSON");
  return [o] {
    auto url = util::parse_url(o->daemon);
    if (!url) {
      std::cerr << "portcullis status: " << url.error().message << "\n";
      return int(k_exit_usage);
    }
    std::unique_ptr<httplib::ClientImpl> http;
    if (url->scheme == "https") {
      auto ssl = std::make_unique<httplib::SSLClient>(url->host, url->port);
      ssl->enable_server_certificate_verification(
          o->ca_file.empty());  // else OpenSSL verifies: util::trust_only
      if (!o->ca_file.empty()) {
        auto pem = util::read_file(o->ca_file, 1 << 20);
        X509_STORE* store = pem ? util::make_ca_store(*pem) : nullptr;
        if (!store) {
          std::cerr << "portcullis status: cannot use the CA file " << o->ca_file << "\n";
          return int(k_exit_usage);
        }
        util::trust_only(ssl->ssl_context(), store, url->host);
      }
      http = std::move(ssl);
    } else {
      http = std::make_unique<httplib::ClientImpl>(url->host, url->port);
    }
    http->set_connection_timeout(5, 0);
    http->set_read_timeout(10, 0);
    httplib::Headers headers;
    if (!o->token_file.empty()) {
      auto token = util::read_file(o->token_file, 4096);
      std::string value = token ? std::string(util::trim(*token)) : std::string();
      if (value.empty()) {
        std::cerr << "portcullis status: cannot read a token from " << o->token_file << "\n";
        return int(k_exit_usage);
      }
      headers.emplace("Authorization", "Bearer " + value);
    }
    auto res = http->Get(url->path + "/v1/targets", headers);
    if (!res || res->status != 200) {
      std::cerr << "portcullis status: cannot reach " << o->daemon << ": "
                << (res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error())) << "\n";
      return int(k_exit_usage);
    }
    auto doc = yaml::parse_json(res->body);
    const yaml::Node* targets = doc && !doc->documents.empty() && doc->documents[0].root
                                    ? doc->documents[0].root->get("targets")
                                    : nullptr;
    if (!targets || !targets->is_sequence()) {
      std::cerr << "portcullis status: the daemon's answer is not a target list\n";
      return int(k_exit_usage);
    }
    if (o->json) std::cout << res->body;
    bool all_synced = true;
    std::ostringstream table;
    table << std::left << std::setw(16) << "TARGET" << std::setw(18) << "STATE" << std::setw(13) << "HEALTH"
          << std::setw(14) << "DESIRED" << std::setw(14) << "APPLIED" << std::setw(9) << "OBJECTS"
          << std::setw(8) << "DRIFT" << std::setw(22) << "LAST SYNC"
          << "MESSAGE\n";
    for (const yaml::Node* t : targets->items) {
      auto state = t->get_string("state");
      all_synced = all_synced && state == "Synced";
      std::string message(t->get_string("lastError"));
      if (message.empty()) message = std::string(t->get_string("breakGlass"));
      if (message.empty()) message = std::string(t->get_string("pruneBlocked"));
      if (message.empty()) message = std::string(t->get_string("selfHealLoop"));
      if (const yaml::Node* drift = t->get("drift");
          message.empty() && drift && drift->is_sequence() && !drift->items.empty())
        message = "drift: " + std::string(drift->items[0]->text);
      if (message.empty()) message = std::string(t->get_string("healthReason"));
      auto number = [](const yaml::Node* n) {
        return n && n->type == yaml::Type::integer ? std::to_string(n->value.integer) : std::string("-");
      };
      std::string health(t->get_string("health"));
      table << std::setw(16) << t->get_string("name") << std::setw(18) << state << std::setw(13)
            << (health.empty() ? "-" : health) << std::setw(14)
            << t->get_string("desiredRevision").substr(0, 12) << std::setw(14)
            << t->get_string("appliedRevision").substr(0, 12) << std::setw(9) << number(t->get("objects"))
            << std::setw(8) << number(t->get("drifted")) << std::setw(22) << t->get_string("lastSyncTime")
            << message << "\n";
    }
    if (!o->json) std::cout << table.str() << images_table(*http, url->path, headers);
    return all_synced ? int(k_exit_ok) : int(k_exit_rejected);
  };
}

}  // namespace portcullis::hooks::cli
