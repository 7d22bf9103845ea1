// Parses the same manifests with Portcullis' YAML reader (libyaml events into an arena tree)
// and with yaml-cpp (YAML::LoadAll into its node graph), several rounds each, alternating,
// and prints the CPU time of each: the figure behind ARCHITECTURE.md's choice of libyaml.
//
//   portcullis-bench-yaml ROUNDS FILE...
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "shared/yaml/parse.hpp"

namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Nodes reached from `n`: both trees are walked whole, so neither is measured lazily.
std::size_t walk(const YAML::Node& n) {
  std::size_t count = 1;
  if (n.IsMap())
    for (const auto& kv : n) count += walk(kv.first) + walk(kv.second);
  else if (n.IsSequence())
    for (const auto& item : n) count += walk(item);
  return count;
}

std::size_t walk(const portcullis::yaml::Node& n) {
  std::size_t count = 1;
  for (const auto& e : n.entries) count += 1 + walk(*e.value);
  for (const auto* item : n.items) count += walk(*item);
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: portcullis-bench-yaml ROUNDS FILE...\n";
    return 2;
  }
  int rounds = std::atoi(argv[1]);
  std::vector<std::string> texts;
  std::size_t bytes = 0;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
    bytes += texts.back().size();
  }
  double ours = 0, theirs = 0;
  std::size_t ours_nodes = 0, theirs_nodes = 0;
  for (int r = 0; r < rounds; ++r) {
    double t0 = cpu_seconds();
    for (const auto& t : texts) {
      auto s = portcullis::yaml::parse_yaml(t);
      if (!s) {
        std::cerr << "portcullis: " << s.error().describe() << "\n";
        return 1;
      }
      for (const auto& d : s->documents)
        if (d.root) ours_nodes += walk(*d.root);
    }
    double t1 = cpu_seconds();
    for (const auto& t : texts) {
      try {
        for (const auto& d : YAML::LoadAll(t)) theirs_nodes += walk(d);
      } catch (const std::exception& e) {
        std::cerr << "yaml-cpp: " << e.what() << "\n";
        return 1;
      }
    }
    double t2 = cpu_seconds();
    ours += t1 - t0;
    theirs += t2 - t1;
  }
  std::printf("files %zu bytes %zu rounds %d\n", texts.size(), bytes, rounds);
  std::printf("libyaml (portcullis::yaml) cpu %.3f s, %.0f files/s, nodes %zu\n", ours, texts.size() * rounds / ours,
              ours_nodes / rounds);
  std::printf("yaml-cpp %s cpu %.3f s, %.0f files/s, nodes %zu\n", "0.7", theirs, texts.size() * rounds / theirs,
              theirs_nodes / rounds);
  std::printf("yaml-cpp / libyaml: %.2fx the CPU time\n", theirs / ours);
  return 0;
}
