#pragma once
// portcullisd's configuration (daemon.yaml, schemas/daemon.schema.json).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/util/error.hpp"

namespace portcullis::daemon {

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
  int concurrency = 8;
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

struct Config {
  std::filesystem::path source;
  std::string listen_host = "127.0.0.1";
  int listen_port = 9440;
  std::filesystem::path tls_cert, tls_key;
  std::filesystem::path secret_file;
  std::filesystem::path state_dir = "/var/lib/portcullisd";
  std::filesystem::path audit_log;  // empty: <state_dir>/audit.jsonl
  std::chrono::milliseconds poll_interval{60'000};
  std::string inventory_namespace = "portcullis-system";
  RepositoryConfig repository;
  std::vector<TargetConfig> targets;

  std::filesystem::path audit_path() const { return audit_log.empty() ? state_dir / "audit.jsonl" : audit_log; }
};

// Parses and validates daemon.yaml; relative paths resolve against `base_dir`.
util::Result<Config> parse_config(std::string_view text, std::string_view file, const std::filesystem::path& base_dir);
util::Result<Config> load_config(const std::filesystem::path& path);

}  // namespace portcullis::daemon
