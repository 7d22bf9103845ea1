#include "daemon/watch.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "daemon/log.hpp"
#include "shared/kube/client.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

struct Watch::Impl {
  kube::Connection connection;
  kube::Resource resource;
  std::string ns;  // "" : all namespaces
  std::string selector;
  WatchCallback callback;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> relists{0}, reconnects{0};
  std::mutex mutex;
  std::condition_variable cv;
  std::thread thread;
  kube::Client* active = nullptr;  // the connection a stream is blocked on (guarded by mutex)

  // Sleeps unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, d, [&] { return stopping.load(); });
  }

  static std::string escape_query(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
      else {
        static const char* hex = "0123456789ABCDEF";
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    return out;
  }

  // Lists every object, 100 per page; each item is parsed on its own (a page of 100
  // Deployments with their managedFields parsed whole took some 4 MB, two watches listing at
  // once made the daemon's peak RSS). Returns the collection's resourceVersion, "" on failure.
  std::string list(kube::Client& client) {
    std::string cont, version;
    callback(WatchEventType::list_begin, nullptr);
    do {
      std::string path = resource.collection_path(ns) + "?limit=100&labelSelector=" + escape_query(selector) +
                         (cont.empty() ? "" : "&continue=" + escape_query(cont));
      auto res = client.get(path);
      if (!res || res->status != 200) {
        log(LogLevel::warn, "watch: list failed", {{"resource", resource.plural},
                                                   {"error", res ? "HTTP " + std::to_string(res->status) : res.error().message}});
        return {};
      }
      yaml::Limits limits;
      limits.max_nodes = 5'000'000;
      bool ok = yaml::json_array_elements(res->body, {"items"}, [&](std::string_view text) {
        auto item = yaml::parse_json(text, limits);
        // List items carry no apiVersion/kind: callbacks know them from the resource.
        if (item && !item->documents.empty() && item->documents[0].root) callback(WatchEventType::listed, item->documents[0].root);
        return !stopping.load();
      });
      auto rv = yaml::json_string_at(res->body, {"metadata", "resourceVersion"});
      if (!ok || !rv) {
        if (!stopping)
          log(LogLevel::warn, "watch: list answer not understood", {{"resource", resource.plural}, {"bytes", std::to_string(res->body.size())}});
        return {};
      }
      version = std::move(*rv);
      cont = yaml::json_string_at(res->body, {"metadata", "continue"}).value_or("");
    } while (!cont.empty() && !stopping);
    ++relists;
    callback(WatchEventType::list_end, nullptr);
    return version;
  }

  void run() {
    auto backoff = std::chrono::milliseconds(200);
    std::string version;
    while (!stopping) {
      auto client = kube::Client::connect(connection);
      if (!client) {
        log(LogLevel::error, "watch: cannot connect", {{"error", client.error().message}});
        if (!pause(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
        continue;
      }
      client->set_timeout(std::chrono::seconds(60));
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
        active = &*client;
      }
      struct Clear {
        Impl* impl;
        ~Clear() {
          std::lock_guard lock(impl->mutex);
          impl->active = nullptr;
        }
      } clear{this};
      if (version.empty()) {
        version = list(*client);
        if (version.empty()) {
          if (!pause(backoff)) return;
          backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
          continue;
        }
      }
      // The server ends a watch after timeoutSeconds; a quiet watch is then resumed.
      std::string path = resource.collection_path(ns) + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=45&labelSelector=" +
                         escape_query(selector) + "&resourceVersion=" + escape_query(version);
      std::string buffer;
      bool gone = false;
      auto status = client->stream(path, [&](std::string_view chunk) {
        buffer.append(chunk);
        std::size_t nl;
        while ((nl = buffer.find('\n')) != std::string::npos) {
          std::string line = buffer.substr(0, nl);
          buffer.erase(0, nl + 1);
          if (line.empty()) continue;
          yaml::Limits limits;
          limits.max_nodes = 5'000'000;
          auto doc = yaml::parse_json(line, limits);
          if (!doc || doc->documents.empty() || !doc->documents[0].root) continue;
          const yaml::Node& event = *doc->documents[0].root;
          std::string_view type = event.get_string("type");
          const yaml::Node* object = event.get("object");
          if (!object) continue;
          if (auto rv = object->at({"metadata", "resourceVersion"})) version = std::string(rv->text);
          if (type == "ERROR") {
            if (object->get("code") && object->get("code")->value.integer == 410) gone = true;
            return false;
          }
          if (type == "BOOKMARK") continue;
          WatchEventType t = type == "ADDED" ? WatchEventType::added
                             : type == "DELETED" ? WatchEventType::deleted : WatchEventType::modified;
          callback(t, object);
        }
        return !stopping.load();
      });
      if (stopping) return;
      if (gone || (status && *status == 410)) {
        version.clear();  // history compacted: list again
        continue;
      }
      if (!status || *status != 200) {
        if (!pause(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
      } else {
        backoff = std::chrono::milliseconds(200);
      }
      ++reconnects;
    }
  }
};

Watch::Watch(kube::Connection connection, kube::Resource resource, std::string ns, std::string label_selector,
             WatchCallback callback)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->connection = std::move(connection);
  m_impl->resource = std::move(resource);
  m_impl->ns = std::move(ns);
  m_impl->selector = std::move(label_selector);
  m_impl->callback = std::move(callback);
  m_impl->thread = std::thread([impl = m_impl.get()] { impl->run(); });
}

Watch::~Watch() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
    if (m_impl->active) m_impl->active->cancel();
  }
  m_impl->cv.notify_all();
  if (m_impl->thread.joinable()) m_impl->thread.join();
}

std::size_t Watch::relists() const { return m_impl->relists; }
std::size_t Watch::reconnects() const { return m_impl->reconnects; }

}  // namespace portcullis::daemon
