#pragma once
// Prometheus metrics of the daemon, rendered in the text exposition format.
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace portcullis::daemon {

class Metrics {
 public:
  // Adds `value` to counter `name` with `labels` ("target=\"prod\",result=\"ok\"").
  void add(const std::string& name, const std::string& labels, double value = 1);
  void set(const std::string& name, const std::string& labels, double value);
  // Observes `seconds` in histogram `name`.
  void observe(const std::string& name, const std::string& labels, double seconds);
  // Declares HELP and TYPE lines.
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> counts;  // per bucket (cumulative when rendered)
    double sum = 0;
    double count = 0;
  };
  mutable std::mutex m_mutex;
  std::map<std::string, std::pair<std::string, std::string>> m_meta;  // name -> (type, help)
  std::map<std::string, std::map<std::string, double>> m_values;
  std::map<std::string, std::map<std::string, Histogram>> m_histograms;
};

// Label value escaping for the exposition format.
std::string label_value(std::string_view s);

}  // namespace portcullis::daemon
