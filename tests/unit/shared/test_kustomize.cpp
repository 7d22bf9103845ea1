#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "shared/kustomize/kustomize.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/yaml/parse.hpp"
#include "tests/unit/support/git_fixture.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

fs::path conformance_dir() { return fs::path(PORTCULLIS_CONFORMANCE_DIR) / "kustomize"; }
fs::path known_failures_file() { return fs::path(PORTCULLIS_KUSTOMIZE_KNOWN_FAILURES); }

// The objects of a YAML stream as canonical JSON (sorted keys), in order.
std::vector<std::string> canonical_documents(std::string_view text) {
  std::vector<std::string> out;
  auto stream = yaml::parse_yaml(text);
  if (!stream) return {"<unparsable: " + stream.error().describe() + ">"};
  for (const auto& d : stream->documents)
    if (d.root && d.root->type != yaml::Type::null) out.push_back(yaml::canonical_json(*d.root));
  return out;
}

std::vector<std::string> canonical_objects(const kustomize::Output& output) {
  std::vector<std::string> out;
  for (const auto& o : output.objects) out.push_back(yaml::canonical_json(*o.node));
  return out;
}

// Features of a case, from the keys of its kustomization files (as the README counts them).
std::string feature_of(const fs::path& input) {
  static const std::vector<std::pair<std::string, std::string>> k_features = {
      {"transformers:", "transformers/generators/validators"}, {"generators:", "transformers/generators/validators"},
      {"validators:", "transformers/generators/validators"},   {"configurations:", "configurations"},
      {"crds:", "crds/openapi"},                               {"openapi:", "crds/openapi"},
      {"buildMetadata:", "buildMetadata"},                     {"vars:", "vars/replacements"},
      {"replacements:", "vars/replacements"},                  {"sortOptions:", "sortOptions"},
      {"patchesJson6902:", "patches: JSON6902"},               {"Generator:", "generators"},
      {"images:", "images"},                                   {"replicas:", "replicas"},
      {"patches:", "patches"},                                 {"patchesStrategicMerge:", "patches: strategic merge"},
      {"commonLabels:", "labels/annotations"},                 {"labels:", "labels/annotations"},
      {"commonAnnotations:", "labels/annotations"},            {"components:", "components"},
      {"namePrefix:", "namePrefix/nameSuffix"},                {"nameSuffix:", "namePrefix/nameSuffix"},
      {"namespace:", "namespace"},
  };
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(input)) {
    auto name = e.path().filename().string();
    if (name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization")
      all += slurp(e.path());
  }
  for (const auto& [key, feature] : k_features)
    if (all.find("\n" + key) != std::string::npos) return feature;
  return "resources";
}

std::set<std::string> read_known_failures() {
  std::set<std::string> out;
  std::istringstream in(slurp(known_failures_file()));
  std::string line;
  while (std::getline(in, line)) {
    line = trimmed(line);
    if (!line.empty() && line[0] != '#') out.insert(line);
  }
  return out;
}

}  // namespace

TEST_CASE("kustomize conformance: every case builds like kubectl kustomize", "[kustomize][conformance]") {
  const auto known = read_known_failures();
  std::map<std::string, std::vector<std::string>> failing_by_feature;
  std::vector<std::string> regressions, now_passing;
  int passed = 0, total = 0, errors_passed = 0, errors_total = 0;
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(conformance_dir()))
    if (e.is_directory() && e.path().filename() != "errors") cases.push_back(e.path());
  for (const auto& e : fs::directory_iterator(conformance_dir() / "errors"))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() == 206);
  for (const auto& dir : cases) {
    bool is_error = dir.parent_path().filename() == "errors";
    std::string name = (is_error ? "errors/" : "") + dir.filename().string();
    std::string run = trimmed(slurp(dir / "run"));
    kustomize::DiskSource source(dir / "input");
    auto built = kustomize::build(source, run == "." ? "" : run);
    bool ok = false;
    std::string why;
    if (is_error) {
      ++errors_total;
      if (built) {
        why = "built, but must fail";
      } else {
        ok = true;
        std::istringstream lines(slurp(dir / "expected_error.txt"));
        std::string want;
        while (std::getline(lines, want)) {
          want = trimmed(want);
          if (!want.empty() && built.error().message.find(want) == std::string::npos) {
            ok = false;
            why = "error '" + built.error().describe() + "' lacks '" + want + "'";
          }
        }
        if (built.error().rule.empty()) {
          ok = false;
          why = "error without a rule id";
        }
      }
      if (ok) ++errors_passed;
    } else {
      ++total;
      if (!built) {
        why = built.error().describe() + " [" + built.error().rule + "]";
      } else {
        auto want = canonical_documents(slurp(dir / "expected.yaml"));
        auto got = canonical_objects(*built);
        ok = want == got;
        if (!ok) {
          why = "expected " + std::to_string(want.size()) + " objects, got " + std::to_string(got.size());
          for (std::size_t i = 0; i < std::min(want.size(), got.size()); ++i)
            if (want[i] != got[i]) {
              why += "; first difference at object " + std::to_string(i) + ":\n  want " + want[i] + "\n  got  " + got[i];
              break;
            }
        }
      }
      if (ok) ++passed;
    }
    if (!ok) {
      failing_by_feature[is_error ? "errors" : feature_of(dir / "input")].push_back(name);
      if (!known.count(name)) regressions.push_back(name + ": " + why);
    } else if (known.count(name)) {
      now_passing.push_back(name);
    }
  }
  std::ostringstream report;
  report << "kustomize conformance: " << passed << " of " << total << " cases pass, " << errors_passed << " of "
         << errors_total << " error cases\n";
  for (const auto& [feature, names] : failing_by_feature) {
    report << "  not passing (" << feature << "): ";
    for (const auto& n : names) report << n << " ";
    report << "\n";
  }
  if (!now_passing.empty()) {
    report << "  now passing, remove from " << known_failures_file().filename().string() << ": ";
    for (const auto& n : now_passing) report << n << " ";
    report << "\n";
  }
  std::cerr << report.str();
  INFO(report.str());
  for (const auto& r : regressions) UNSCOPED_INFO("regression (not in the known-failures list): " << r);
  CHECK(regressions.empty());
}
