// `portcullis break-glass open|close|list`: requests to portcullisd signed with the on-call
// user's SSH key (ssh-keygen -Y sign, namespace portcullis-break-glass; daemon/breakglass.hpp).
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>

#include "hooks/cli/command.hpp"
#include "hooks/report.hpp"
#include "shared/notify/event.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/json.hpp"
#include "shared/util/process.hpp"
#include "shared/util/strings.hpp"
#include "shared/util/tls.hpp"
#include "shared/util/url.hpp"

namespace portcullis::hooks::cli {

namespace {

struct Options {
  std::string action;
  std::string daemon = "http://127.0.0.1:9440";
  std::string daemon_id;
  std::string ca_file;
  std::string key;
  std::string target;
  std::string reason;
  std::string duration = "30m";
  bool revert = false;
  std::string kubeconfig_out;
  bool json = false;
};

// The signature `ssh-keygen -Y sign` makes over `text` with `key`, or an error.
util::Result<std::string> sign(const std::string& key, const std::string& text) {
  auto dir = util::make_temp_dir(std::filesystem::temp_directory_path(), "portcullis-bg-");
  if (!dir) return util::fail(dir.error());
  util::TempDirGuard guard(*dir);
  auto file = *dir / "request.json";
  if (auto w = util::write_file(file, text, 0600); !w) return util::fail(w.error());
  auto r = util::run_process({"ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", "portcullis-break-glass", file.string()});
  if (!r) return util::fail(r.error());
  if (r->status != 0) return util::fail("ssh-keygen -Y sign failed: " + std::string(util::trim(r->err)));
  return util::read_file(file.string() + ".sig", 64 << 10);
}

std::unique_ptr<httplib::ClientImpl> client_for(const util::Url& url, const std::string& ca_file) {
  if (url.scheme != "https") return std::make_unique<httplib::ClientImpl>(url.host, url.port);
  auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
  ssl->enable_server_certificate_verification(ca_file.empty());
  if (!ca_file.empty()) {
    auto pem = util::read_file(ca_file, 1 << 20);
    X509_STORE* store = pem ? util::make_ca_store(*pem) : nullptr;
    if (!store) return nullptr;
    util::trust_only(ssl->ssl_context(), store, url.host);
  }
  return ssl;
}

void print_window(const util::Json& w) {
  auto s = [&](const char* k) { return w.contains(k) && w[k].is_string() ? printable(w[k].get<std::string>()) : std::string(); };
  auto n = [&](const char* k) { return w.contains(k) && w[k].is_number_integer() ? w[k].get<std::int64_t>() : 0; };
  std::cout << s("id") << "  " << s("target") << "  " << s("state") << (s("outcome").empty() ? "" : " (" + s("outcome") + ")")
            << "  by " << s("actor") << "  " << util::rfc3339_utc(n("opened")) << " .. " << util::rfc3339_utc(n("expires")) << "  "
            << (w.contains("changes") ? w["changes"].size() : 0) << " changes  " << s("reason") << "\n";
}

int run(const Options& o) {
  auto url = util::parse_url(o.daemon);
  if (!url) {
    std::cerr << "portcullis break-glass: " << url.error().message << "\n";
    return k_exit_usage;
  }
  if (o.action != "list" && o.target.empty()) {
    std::cerr << "portcullis break-glass " << o.action << ": --target is required\n";
    return k_exit_usage;
  }
  std::int64_t seconds = 0;
  if (o.action == "open") {
    auto ms = util::parse_duration_ms(o.duration);
    if (!ms || *ms < 1000) {
      std::cerr << "portcullis break-glass open: --for " << o.duration << " is not a duration (30m, 2h)\n";
      return k_exit_usage;
    }
    if (o.reason.empty()) {
      std::cerr << "portcullis break-glass open: --reason is required (say which incident)\n";
      return k_exit_usage;
    }
    seconds = *ms / 1000;
  }
  util::Json request{{"action", o.action}, {"target", o.target}, {"daemon", o.daemon_id},
                     {"nonce", notify::new_event_id()}, {"timestamp", static_cast<std::int64_t>(std::time(nullptr))}};
  if (o.action == "open") {
    request["reason"] = o.reason;
    request["forSeconds"] = seconds;
  }
  if (o.revert) request["revert"] = true;
  std::string text = util::dump(request);
  auto signature = sign(o.key, text);
  if (!signature) {
    std::cerr << "portcullis break-glass: cannot sign with " << o.key << ": " << signature.error().message << "\n";
    return k_exit_usage;
  }
  auto http = client_for(*url, o.ca_file);
  if (!http) {
    std::cerr << "portcullis break-glass: cannot use the CA file " << o.ca_file << "\n";
    return k_exit_usage;
  }
  http->set_connection_timeout(5, 0);
  http->set_read_timeout(30, 0);
  auto res = http->Post(url->path + "/v1/break-glass", util::dump(util::Json{{"request", text}, {"signature", *signature}}),
                        "application/json");
  if (!res) {
    std::cerr << "portcullis break-glass: cannot reach " << o.daemon << ": " << httplib::to_string(res.error()) << "\n";
    return k_exit_usage;
  }
  auto body = util::Json::parse(res->body, nullptr, false);
  if (res->status >= 300) {
    std::string error = !body.is_discarded() && body.contains("error") && body["error"].is_string()
                            ? body["error"].get<std::string>()
                            : res->body;
    std::cerr << "portcullis break-glass " << o.action << ": refused (HTTP " << res->status << "): " << printable(error) << "\n";
    return k_exit_rejected;
  }
  if (body.is_discarded()) {
    std::cerr << "portcullis break-glass: the daemon's answer is not JSON\n";
    return k_exit_usage;
  }
  if (body.contains("kubeconfig") && body["kubeconfig"].is_string()) {
    std::string kc = body["kubeconfig"].get<std::string>();
    body.erase("kubeconfig");
    if (!o.kubeconfig_out.empty()) {
      if (auto w = util::write_file(o.kubeconfig_out, kc, 0600); !w) {
        std::cerr << "portcullis break-glass: cannot write " << o.kubeconfig_out << ": " << w.error().message << "\n";
        return k_exit_usage;
      }
      std::cerr << "kubeconfig (valid until the window closes) written to " << o.kubeconfig_out << "\n";
    } else {
      std::cout << kc;
      return k_exit_ok;
    }
  }
  if (o.json) {
    std::cout << util::dump(body) << "\n";
    return k_exit_ok;
  }
  if (body.contains("windows"))
    for (const auto& w : body["windows"]) print_window(w);
  else
    print_window(body);
  return k_exit_ok;
}

}  // namespace

Runner setup_break_glass(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.footer(
      "Open, close or list break-glass windows of portcullisd's targets. Each request is signed with your SSH key "
      "(ssh-keygen -Y sign -n portcullis-break-glass) and checked against the daemon's allowed signers and the "
      "target's breakGlass.allowed. While a window is open the target's drift is recorded, not reverted; with "
      "breakGlass.access, open prints a kubeconfig (or writes --kubeconfig-out) valid until the window closes. "
      "close keeps the drift until Git matches the live objects; close --revert lets self-heal revert it. "
      "Exit status: 0 done, 1 refused by the daemon, 2 usage error or daemon unreachable.");
  app.add_option("action", o->action, "open, close or list")->required()->check(CLI::IsMember({"open", "close", "list"}));
  app.add_option("--daemon", o->daemon, "portcullisd's URL")->capture_default_str();
  app.add_option("--daemon-id", o->daemon_id, "the daemon's breakGlass.daemonId (signed into the request)")->required();
  app.add_option("--ca-file", o->ca_file, "CA of the daemon's certificate (https)");
  app.add_option("--key", o->key, "your SSH private key (or its .pub with the key in ssh-agent)")->required();
  app.add_option("--target", o->target, "the target (required for open and close)");
  app.add_option("--reason", o->reason, "open: the incident, e.g. \"INC-1234: checkout down\"");
  app.add_option("--for", o->duration, "open: how long (at most the target's breakGlass.maxDuration)")->capture_default_str();
  app.add_flag("--revert", o->revert, "close: let self-heal revert what was changed (no follow-up)");
  app.add_option("--kubeconfig-out", o->kubeconfig_out, "open: write the kubeconfig here (mode 0600) instead of stdout");
  app.add_flag("--json", o->json, "print the daemon's JSON");
  return [o] { return run(*o); };
}

}  // namespace portcullis::hooks::cli
