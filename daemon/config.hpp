#pragma once
// portcullisd's configuration (daemon.yaml, schemas/daemon.schema.json).
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::daemon {

// Fields of matching objects that are neither compared for drift nor applied (say
// /spec/replicas of an HPA-scaled Deployment). Empty selectors match everything.
struct IgnoreRule {
  std::string group;      // API group ("apps"; "" is the core group); "*" or empty: any
  std::string kind;       // glob
  std::string name;       // glob
  std::string namespace_; // glob
  std::vector<std::string> pointers;  // JSON pointers, RFC 6901
};

// Break-glass of a target (daemon/breakglass.hpp): who may open a window, for how long, what
// an expired window does, and the elevated access minted for it (TokenRequest).
struct BreakGlassAccess {
  std::filesystem::path kubeconfig;  // the identity that creates the ServiceAccount, RoleBindings and token
  std::string context;
  std::string cluster_role;          // bound (RoleBinding) in each of the target's namespaces
};

enum class OnExpiry { hold, revert };

struct TargetBreakGlass {
  std::vector<std::string> allowed;  // principals of the allowed signers who may open a window
  std::chrono::seconds max_duration{4 * 3600};
  OnExpiry on_expiry = OnExpiry::hold;  // hold: as a close (drift kept until Git matches); revert: self-heal
  bool hold_syncs = false;              // new commits wait until the window closes
  std::optional<BreakGlassAccess> access;
};

struct TargetConfig {
  std::string name;
  std::string path;                  // environment directory in the repository
  std::filesystem::path kubeconfig;  // empty: in-cluster service account
  std::string context;
  std::string namespace_;            // empty: the context's namespace
  bool prune = true;
  bool allow_empty = false;
  double max_prune_share = 0.5;
  bool force_conflicts = true;
  int concurrency = 16;
  // Drift: watched unless watch is false; corrected unless detectOnly (selfHeal false also
  // only reports).
  bool watch = true;
  bool self_heal = true;
  bool detect_only = false;
  std::vector<IgnoreRule> ignore;
  // Confinement (shared/policy/confinement): the namespaces it may write into (globs; nullopt:
  // only its own default namespace, `namespace_` or the context's), the cluster-scoped kinds
  // ("Kind" for the core group, else "group/Kind"), and whether it may take over an existing
  // object that no target owns (adopt; recorded in the audit log).
  std::optional<std::vector<std::string>> namespaces;
  std::vector<std::string> cluster_kinds{"Namespace"};
  bool adopt = false;
  std::optional<TargetBreakGlass> break_glass;  // nullopt: no break-glass window may be opened
};

enum class AlertProviderType { webhook, slack, pagerduty };

struct AlertProvider {
  std::string name;
  AlertProviderType type = AlertProviderType::webhook;
  std::string url;
  std::filesystem::path secret_file;       // webhook: HMAC-SHA256 secret
  std::filesystem::path routing_key_file;  // pagerduty: integration (routing) key
  std::filesystem::path ca_file;           // https: trusted CA (default: the system's)
  std::vector<std::string> events;         // alert kinds sent (names as in AlertKind); empty: all
};

struct AlertsConfig {
  std::vector<AlertProvider> providers;
  std::chrono::milliseconds out_of_sync_after{600'000};  // OutOfSync or drift persisting this long alerts
  std::chrono::milliseconds source_unavailable_after{300'000};  // fetches failing this long alert
  std::chrono::milliseconds repeat_interval{3'600'000};  // an open alert is re-sent this often at most
  int max_per_minute = 30;                                // per provider; the rest is dropped and counted
};

struct RepositoryConfig {
  std::string url;
  std::string branch = "main";
  std::filesystem::path ssh_key_file;
  std::filesystem::path known_hosts_file;
  std::string username;
  std::filesystem::path password_file;
  std::filesystem::path ca_file;
};

// The HTTP API's limits and the token of its read endpoints.
struct ApiConfig {
  // GET /v1/targets and /metrics need "Authorization: Bearer <token>" (empty: open, which only
  // a loopback listen address allows). /healthz and /readyz stay open.
  std::filesystem::path read_token_file;
  std::chrono::milliseconds request_timeout{10'000};  // to read, handle and answer one request
  int max_connections = 64;                           // open at once; more are answered 503
  int max_connections_per_client = 16;                // from one address
};

// Signed break-glass requests: the keys (git's allowed-signers format) and the name of this
// daemon that a request must carry (a request for another daemon is refused).
struct BreakGlassConfig {
  std::filesystem::path allowed_signers_file;
  std::string daemon_id;
};

// The status page (docs/status-page.md).
struct StatusPageConfig {
  std::string commit_url;             // "https://.../commit/{commit}"; empty: no links
  std::filesystem::path gate_audit_log;  // the gate's audit log; empty: no gate decisions shown
  int max_event_streams = 8;
};

// Leader election with a coordination.k8s.io/v1 Lease (docs/leader-election.md).
struct LeaderElectionConfig {
  bool enabled = false;
  std::filesystem::path kubeconfig;  // empty: in-cluster
  std::string context;
  std::string namespace_;  // empty: the inventory namespace
  std::string lease_name = "portcullisd";
  std::string identity;    // empty: host name and pid
  std::chrono::milliseconds lease_duration{15'000}, renew_deadline{10'000}, retry_period{2'000};
};

// Sharding targets across replicas (docs/sharding.md): a Lease per shard and one per replica,
// in `lease` (its kubeconfig, namespace, identity and timing; its lease_name is the prefix of
// the Leases' names).
struct ShardingConfig {
  bool enabled = false;
  std::size_t shards = 12;
  LeaderElectionConfig lease;
};

// Image automation (daemon/images.hpp, docs/images.md): where registries are and how to reach
// them, and the bot that commits updates and pushes them through the gate.
struct RegistryConfig {
  std::string host;                         // as images name it: "registry.example:5000"
  std::string url;                          // "https://<host>" unless set
  std::filesystem::path ca_file;            // empty: the system's CAs
  std::filesystem::path credentials_file;   // "username:password"; empty: anonymous
  double requests_per_second = 10;
  std::chrono::milliseconds timeout{10'000};
};

struct BotConfig {
  std::string name, email;                  // author and committer of its commits
  std::filesystem::path signing_key_file;   // SSH private key: commits signed (gpg.format=ssh)
  std::string push_url;                     // empty: the repository's url
  std::filesystem::path ssh_key_file, known_hosts_file;          // ssh://
  std::string username;                                          // https://
  std::filesystem::path password_file, ca_file;
};

struct ImagesConfig {
  bool enabled = false;
  std::chrono::milliseconds poll_interval{60'000};
  std::chrono::milliseconds registry_unavailable_after{300'000};
  std::size_t max_tags = 100'000;
  std::vector<RegistryConfig> registries;
  BotConfig bot;
};

struct Config {
  std::filesystem::path source;
  std::string listen_host = "127.0.0.1";
  int listen_port = 9440;
  std::filesystem::path tls_cert, tls_key;
  std::filesystem::path secret_file;
  ApiConfig api;
  std::filesystem::path state_dir = "/var/lib/portcullisd";
  std::filesystem::path audit_log;  // empty: <state_dir>/audit.jsonl
  std::chrono::milliseconds poll_interval{60'000};
  // One request to a cluster's API server (read or write) waits this long for an answer; a
  // cluster that does not answer fails its own targets' syncs after it (the others go on).
  std::chrono::milliseconds cluster_request_timeout{30'000};
  std::string inventory_namespace = "portcullis-system";
  RepositoryConfig repository;
  std::vector<TargetConfig> targets;
  AlertsConfig alerts;
  BreakGlassConfig break_glass;
  StatusPageConfig status_page;
  LeaderElectionConfig leader_election;
  ShardingConfig sharding;
  ImagesConfig images;

  std::filesystem::path audit_path() const { return audit_log.empty() ? state_dir / "audit.jsonl" : audit_log; }
};

// Whether `host` (of listen) is a loopback address: 127.0.0.0/8 or localhost.
bool is_loopback_host(std::string_view host);

// Parses and validates daemon.yaml; relative paths resolve against `base_dir`.
util::Result<Config> parse_config(std::string_view text, std::string_view file, const std::filesystem::path& base_dir);
util::Result<Config> load_config(const std::filesystem::path& path);

}  // namespace portcullis::daemon
