#include "hooks/notify.hpp"

#include <algorithm>
#include <ctime>

#include "shared/notify/sender.hpp"
#include "shared/util/fs.hpp"
#include "shared/util/strings.hpp"

namespace portcullis::hooks {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

util::Result<notify::Destination> destination_of(const policy::ServerConfig::NotifyTarget& t) {
  notify::Destination d;
  d.url = t.url;
  auto secret = util::read_file(t.secret_file, 64 << 10);
  if (!secret) return util::fail("cannot read the notification secret: " + secret.error().message);
  d.secret = std::string(util::trim(*secret));
  if (d.secret.empty()) return util::fail("the notification secret file " + t.secret_file.string() + " is empty");
  if (!t.ca_file.empty()) {
    auto ca = util::read_file(t.ca_file, 1 << 20);
    if (!ca) return util::fail("cannot read the CA file: " + ca.error().message);
    d.ca_pem = std::move(*ca);
  }
  return d;
}

// 2xx: delivered; 409: the daemon has it already (an earlier attempt got through).
bool delivered(int status) { return (status >= 200 && status < 300) || status == 409; }

std::chrono::milliseconds left(Clock::time_point end) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
  return std::max(ms, std::chrono::milliseconds(0));
}

// A spool file: the target URL on the first line, the event body after it.
util::Result<fs::path> spool_event(const fs::path& spool, const std::string& url, const std::string& id,
                                   const std::string& body) {
  std::error_code ec;
  fs::create_directories(spool, ec);
  std::string name = std::to_string(unix_now()) + "-" + id + "-" + std::to_string(std::hash<std::string>{}(url) % 100000) + ".event";
  if (auto w = util::write_file(spool / name, url + "\n" + body, 0600); !w) return util::fail(w.error());
  return spool / name;
}

NotifyResult flush(const policy::ServerConfig& config, const fs::path& spool, std::chrono::milliseconds budget,
                   const std::vector<fs::path>& skip) {
  NotifyResult r;
  auto end = Clock::now() + budget;
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(spool, ec))
    if (e.path().extension() == ".event") files.push_back(e.path());
  std::sort(files.begin(), files.end());  // names start with the time: oldest first
  for (const auto& f : files) {
    if (std::find(skip.begin(), skip.end(), f) != skip.end()) {
      ++r.spooled;  // just failed: the next run tries again
      continue;
    }
    if (left(end).count() <= 0) {
      ++r.spooled;
      continue;
    }
    auto text = util::read_file(f, 16 << 20);
    if (!text) continue;
    auto nl = text->find('\n');
    if (nl == std::string::npos) {
      fs::remove(f, ec);  // not ours or truncated: nothing deliverable
      continue;
    }
    std::string url = text->substr(0, nl), body = text->substr(nl + 1);
    auto target = std::find_if(config.notify_targets.begin(), config.notify_targets.end(),
                               [&](const auto& t) { return t.url == url; });
    if (target == config.notify_targets.end()) {
      r.problems.push_back("spooled event for " + url + " dropped: no such notify target any more");
      fs::remove(f, ec);
      continue;
    }
    auto event = notify::parse_event(body);
    auto dest = destination_of(*target);
    if (!event || !dest) {
      ++r.spooled;
      if (!dest) r.problems.push_back(dest.error().message);
      continue;
    }
    auto status = notify::send(*dest, body, event->id, unix_now(), left(end));
    if (status && delivered(*status)) {
      fs::remove(f, ec);
      ++r.delivered;
    } else {
      ++r.spooled;
      r.problems.push_back("spooled event " + event->id + " still not delivered to " + url + ": " +
                           (status ? "HTTP " + std::to_string(*status) : status.error().message));
    }
  }
  return r;
}

}  // namespace

NotifyResult flush_spool(const policy::ServerConfig& config, const fs::path& spool, std::chrono::milliseconds budget) {
  return flush(config, spool, budget, {});
}

NotifyResult notify_push(const policy::ServerConfig& config, const notify::Event& event, const fs::path& spool,
                         std::chrono::milliseconds budget) {
  NotifyResult r;
  auto end = Clock::now() + budget;
  std::string body = notify::to_json(event);
  std::vector<fs::path> just_spooled;
  for (const auto& t : config.notify_targets) {
    auto dest = destination_of(t);
    util::Result<int> status = dest ? notify::send(*dest, body, event.id, unix_now(), left(end) / 2 + std::chrono::milliseconds(1))
                                    : util::Result<int>(util::fail(dest.error()));
    if (status && delivered(*status)) {
      ++r.delivered;
      continue;
    }
    r.problems.push_back("cannot notify " + t.url + ": " + (status ? "HTTP " + std::to_string(*status) : status.error().message) +
                         "; the event is spooled and will be delivered later");
    if (auto s = spool_event(spool, t.url, event.id, body); !s)
      r.problems.push_back("cannot spool the event: " + s.error().message + "; the daemon's poll will catch up");
    else
      just_spooled.push_back(*s);
  }
  // Older events that could not be delivered before, while time remains.
  auto older = flush(config, spool, left(end), just_spooled);
  r.delivered += older.delivered;
  r.problems.insert(r.problems.end(), older.problems.begin(), older.problems.end());
  r.spooled = older.spooled;
  return r;
}

}  // namespace portcullis::hooks
