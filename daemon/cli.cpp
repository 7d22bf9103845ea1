#include <CLI/CLI.hpp>
#include <git2.h>

#include <malloc.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "daemon/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/http.hpp"
#include "daemon/log.hpp"
#include "daemon/service.hpp"

namespace portcullis::daemon {

int main(int argc, char** argv) {
  CLI::App app{"portcullisd: the Portcullis reconciler. Makes each cluster match its environment in Git: "
               "notified on every accepted push (and polling as a fallback), it fetches the repository, "
               "server-side-applies what changed and prunes what Git no longer declares and it owns.",
               "portcullisd"};
  std::string config_path;
  bool check = false, version = false;
  app.add_option("--config", config_path, "daemon.yaml (schemas/daemon.schema.json)");
  app.add_flag("--check-config", check, "validate the configuration and exit (0 valid, 2 invalid)");
  app.add_flag("--version", version, "print the version and exit");
  app.footer("Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot run (bind, mirror, leader election), 2 on usage or "
             "configuration errors, 3 when this replica lost the leadership (leaderElection; restart it as a standby).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (version) {
    std::cout << "portcullisd " << PORTCULLIS_VERSION << "\n";
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "portcullisd: --config is required\n";
    return 2;
  }
  auto config = load_config(config_path);
  if (!config) {
    std::cerr << "portcullisd: " << config.error().describe() << "\n";
    return 2;
  }
  if (check) {
    std::cout << "portcullisd: " << config_path << " is valid (" << config->targets.size() << " targets)\n";
    return 0;
  }
  // Signals are taken by a dedicated thread; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // glibc gives each thread that allocates its own arena (up to 8 per core): the apply
  // workers and watches would each keep the peak of their share of a large sync, tens of MB
  // in all. Two arenas bound that; the threads mostly wait on the network.
  mallopt(M_ARENA_MAX, 2);
  // A fixed mmap threshold: blocks of 64 KiB and more (response bodies, parse arenas of list
  // pages and inventories) are mapped and unmapped, instead of the threshold growing after the
  // first such block is freed and later ones fragmenting the heap under long-lived objects.
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);

  Service service(std::move(*config));
  HttpServer http(service);
  bool http_failed = false;
  std::thread server([&] { http_failed = !http.listen(); if (http_failed) service.stop(); });
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log(LogLevel::info, "stopping", {{"signal", std::to_string(sig)}});
    service.stop();
    http.stop();
  });
  log(LogLevel::info, "portcullisd starting", {{"version", PORTCULLIS_VERSION}, {"config", config_path}});
  int rc = service.run();
  http.stop();
  server.join();
  if (waiter.joinable()) {
    // Wake the signal thread if the service ended on its own.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  return http_failed ? 1 : rc;
}

}  // namespace portcullis::daemon
