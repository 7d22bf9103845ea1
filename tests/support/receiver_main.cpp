// portcullis-test-receiver: a real HTTP receiver on loopback for end-to-end suites (alerts).
// Records every POST as one JSON line {"path","headers":{...},"body"} in LOG, writes the port
// it listens on to PORT_FILE once it accepts connections, and exits on SIGTERM or SIGINT.
//
//   portcullis-test-receiver PORT_FILE LOG
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: portcullis-test-receiver PORT_FILE LOG\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by the server's threads

  std::mutex mutex;
  std::ofstream log(argv[2], std::ios::app);
  httplib::Server server;
  server.Post(".*", [&](const httplib::Request& q, httplib::Response& a) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : q.headers) headers[k] = v;
    nlohmann::json line = {{"path", q.path}, {"headers", headers}, {"body", q.body}};
    {
      std::lock_guard lock(mutex);
      log << line.dump() << "\n" << std::flush;
    }
    a.set_content("ok", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::cerr << "portcullis-test-receiver: cannot bind a port on 127.0.0.1\n";
    return 1;
  }
  std::thread loop([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  {
    std::ofstream(std::string(argv[1]) + ".tmp") << port << "\n";
    std::rename((std::string(argv[1]) + ".tmp").c_str(), argv[1]);
  }
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  loop.join();
  return 0;
}
