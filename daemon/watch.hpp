#pragma once
// One list+watch of a resource in one cluster (in one namespace, or in all), narrowed by a
// label selector: lists (paged),
// then watches from the list's resourceVersion with bookmarks, resumes from the last version
// after a disconnect (with backoff), and lists again after 410 Gone. Runs on its own thread
// with its own connection.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shared/kube/discovery.hpp"
#include "shared/kube/kubeconfig.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::daemon {

enum class WatchEventType { listed, added, modified, deleted, list_begin, list_end };

// Called on the watch's thread: `object` is null for list_begin/list_end; listed objects lack
// apiVersion and kind (the resource tells them).
using WatchCallback = std::function<void(WatchEventType, const yaml::Node* object)>;

class Watch {
 public:
  // `ns`: the namespace watched ("" : every namespace, or a cluster-scoped resource). A target's
  // identity may list and watch only in its own namespaces.
  Watch(kube::Connection connection, kube::Resource resource, std::string ns, std::string label_selector,
        WatchCallback callback);
  ~Watch();  // stops and joins
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  std::size_t relists() const;     // lists done (the first, and after 410 Gone)
  std::size_t reconnects() const;  // watches resumed after a disconnect

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace portcullis::daemon
