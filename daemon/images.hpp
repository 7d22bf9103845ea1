#pragma once
// Image automation in portcullisd: the registry watcher and the bot (docs/images.md).
//
// Every images.pollInterval, on its own thread (a registry that hangs or fails never delays a
// sync): reads the image policies of .portcullis.yaml at the branch's tip in the daemon's mirror
// (<stateDir>/mirror.git), lists the tags of each image they name once (shared/registry, one
// rate-limited client per registry, backing off on failure), asks the registry for digests
// only where a policy pins or follows one, chooses (shared/imagepolicy), and plans the edits of
// each (policy, environment) against the mirror's tree. Only a plan that changes something
// makes it touch Git: the bot fetches the branch into its work repository
// (<stateDir>/images/work.git, daemon/bot.hpp), plans again on that tip, and writes ONE commit
// per (policy, environment) -- so that a prod update the gate refuses never holds back dev's --
// authored by the bot, signed, and pushed to the Git server, whose pre-receive gate judges it.
// A push that finds the branch moved is planned again on the new tip (3 attempts); a push the
// gate rejects is recorded with the gate's reason and tried again next poll (it lands once
// the soak has passed).
//
// Reported: status per (policy, environment) (GET /v1/images), metrics, log lines, and the
// alerts imageUpdateRejected (per "policy/environment") and registryUnavailable (per registry
// host, after images.registryUnavailableAfter of failures).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/alerts.hpp"
#include "daemon/config.hpp"
#include "daemon/metrics.hpp"

namespace portcullis::daemon {

struct ImageStatus {
  std::string policy, image, environment;
  std::string state =
      "Pending";       // UpToDate, Committed, Rejected, RegistryUnavailable, NoCandidate, Invalid, Failed
  std::string reason;  // why not: the gate's remote: lines, the registry's error, problems
  std::size_t tags_seen = 0;      // valid tags the registry listed at the last poll
  std::size_t tags_rejected = 0;  // names that are not tags, set aside
  std::string chosen;             // tag, or tag@digest
  std::string last_commit;        // the bot's last commit for it that the server accepted
  std::string last_poll_time;     // RFC 3339
  std::string last_commit_time;
};

struct RegistryState {
  std::string host;
  bool up = true;
  std::string last_error;
  std::string last_success_time;  // RFC 3339, "" before the first
};

class ImageWatcher {
 public:
  // `metrics` and `alerter` must outlive it. Nothing runs before start().
  ImageWatcher(const Config& config, Metrics& metrics, Alerter& alerter);
  ~ImageWatcher();
  ImageWatcher(const ImageWatcher&) = delete;
  ImageWatcher& operator=(const ImageWatcher&) = delete;

  // Polls now and then every poll interval on its own thread, until stop(); with a `gate`, only
  // the rounds it allows when they begin (sharding: while this replica holds shard 0).
  void start(std::function<bool()> gate = {});
  // Asks the thread to end after the poll in progress, without waiting (any thread).
  void signal_stop();
  // signal_stop(), then waits for the thread.
  void stop();
  // One poll round on the caller's thread (tests, and the thread's body).
  void poll_once();

  std::vector<ImageStatus> status() const;
  std::vector<RegistryState> registries() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// GET /v1/images: {"images": [...], "registries": [...]}.
std::string images_json(const std::vector<ImageStatus>& images, const std::vector<RegistryState>& registries);

}  // namespace portcullis::daemon
