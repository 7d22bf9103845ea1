#pragma once
// The test process's own environment: read a variable, or change some for one scope.
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::test {

// The value of the environment variable `name`; nullopt when it is not set.
inline std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::optional<std::string>(v) : std::nullopt;
}

// Sets (a value) and unsets (nullopt) environment variables for one scope; the destructor
// restores each one's previous value or absence, in reverse order. Not thread-safe, like setenv.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<std::string, std::optional<std::string>>>& vars) {
    for (const auto& [name, value] : vars) {
      m_saved.emplace_back(name, env_value(name.c_str()));
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    for (auto it = m_saved.rbegin(); it != m_saved.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> m_saved;
};

}  // namespace portcullis::test
