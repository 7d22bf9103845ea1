#pragma once
// The repository policy (.portcullis.yaml) and the server configuration, parsed and
// validated against their JSON Schemas (schemas/*.schema.json).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/policy/confinement.hpp"
#include "shared/util/error.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::policy {

enum class Severity { off, warn, error };
enum class MissingSchema { reject, warn };
enum class FailMode { closed, open };

struct Promotion {
  std::string from;              // environment name
  std::int64_t soak_ms = 0;      // 0: no soak
  bool require_digest = false;
};

struct Environment {
  std::string name;
  std::string path;  // no leading or trailing '/'
  bool protected_ = false;
  std::string namespace_;  // for objects that name none; may be empty
  std::optional<Promotion> promotion;
};

enum class Dialect { automatic, github, gitlab };

inline constexpr std::string_view k_policy_file = ".portcullis.yaml";
inline constexpr std::string_view k_environments_dir = "environments";

struct Policy {
  std::vector<std::string> protected_refs{"refs/heads/main", "refs/heads/master"};
  std::vector<std::string> release_tags{"refs/tags/v*"};
  std::vector<std::string> check_refs{"refs/heads/*"};
  // Declared environments; when `discover_environments`, every directory under
  // environments/ is one (prod and production protected).
  std::vector<Environment> environments;
  bool discover_environments = true;
  bool strict = true;
  MissingSchema missing_schema = MissingSchema::reject;
  std::vector<std::string> deny_kinds;
  std::vector<std::string> exclude;
  std::map<std::string, Severity, std::less<>> rules;  // overrides of the switchable rules
  bool self_approval = true;
  Dialect codeowners_dialect = Dialect::automatic;
  std::string teams_file;  // in the repository; empty: none
  std::vector<std::string> environment_branches;  // empty: refs/heads/env/* and refs/heads/<env>

  // Severity of a switchable content rule (default: error).
  Severity severity(std::string_view rule) const;
  bool is_protected_ref(std::string_view ref) const;
  bool is_release_tag(std::string_view ref) const;
  bool is_checked_ref(std::string_view ref) const;
  bool is_excluded(std::string_view path) const;
  // True for a branch that names an environment (it may not be created).
  bool is_environment_branch(std::string_view ref, const std::vector<Environment>& environments) const;
};

// An environment discovered from a directory name (no policy file).
Environment discovered_environment(std::string_view dir_name);

// Parses and validates .portcullis.yaml. Errors name the file, line and column, with rule
// "policy.invalid".
util::Result<Policy> parse_policy(std::string_view text, std::string_view file = k_policy_file);
// Builds a policy from an already parsed document (used for the server's defaultPolicy).
util::Result<Policy> policy_from_node(const yaml::Node& root, std::string_view file);

// What an environment may write into its cluster, as the server config says (the same lists as
// its portcullisd target).
struct EnvironmentConfinement {
  Confinement confinement;
  std::string namespace_;  // where objects that name none go; "" when the config does not say
};

struct ServerConfig {
  std::filesystem::path source;        // the file it was read from; empty for defaults
  std::filesystem::path schema_store;  // empty: schema validation is off
  std::filesystem::path audit_log;     // empty: <git dir>/portcullis/audit.jsonl
  std::int64_t time_budget_ms = 4000;
  FailMode fail_mode = FailMode::closed;
  std::uint64_t max_file_size = 1 << 20;
  yaml::Limits yaml_limits;
  std::size_t max_refs = 10'000;
  std::vector<std::string> identity_env{"GL_USER", "GL_USERNAME", "GITEA_PUSHER_NAME", "GITHUB_USER_LOGIN",
                                        "REMOTE_USER"};
  std::map<std::string, std::vector<std::string>> teams;  // @org/team -> members
  std::filesystem::path allowed_signers;                  // empty: no signed approvals
  std::vector<std::string> break_glass;                   // users and @org/teams
  std::optional<Policy> default_policy;
  std::map<std::string, EnvironmentConfinement> confinement;  // by environment path

  struct NotifyTarget {
    std::string url;
    std::filesystem::path secret_file;
    std::filesystem::path ca_file;  // empty: the system's trust store
  };
  std::vector<NotifyTarget> notify_targets;
  std::filesystem::path notify_spool;  // empty: <git dir>/portcullis/spool
  std::int64_t notify_timeout_ms = 2000;
};

// Validates `root` against one of our JSON Schemas as compiled at build time
// (schemas/programs.hpp): the first violation is an error with `file`, line, column and rule
// "policy.invalid", worded "invalid <what>: <path>: <message>".
util::Result<void> validate_against(std::span<const std::byte> schema, const yaml::Node& root, std::string_view file,
                                    std::string_view what);

util::Result<ServerConfig> parse_server_config(std::string_view text, std::string_view file);
// Reads the server configuration at `path`. Relative paths inside it resolve against the
// file's directory.
util::Result<ServerConfig> load_server_config(const std::filesystem::path& path);

}  // namespace portcullis::policy
