#pragma once
// A temporary directory per test: removed when the test passes, kept when it fails.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace portcullis::test {

std::vector<std::filesystem::path>& live_temp_dirs();

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portcullis-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    m_path = tmpl;
    live_temp_dirs().push_back(m_path);
  }
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

  // Writes `content` to `name` (creating parent directories); returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    auto p = m_path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path m_path;
};

}  // namespace portcullis::test
