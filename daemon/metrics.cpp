#include "daemon/metrics.hpp"

#include <charconv>
#include <cmath>

namespace portcullis::daemon {

namespace {

const std::vector<double>& buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

// The shortest text that reads back as `v` ("0.1", not "0.10000000000000001": bucket bounds
// are label values that queries spell).
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc{} ? end : buf);
}

std::string with_labels(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

}  // namespace

std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::add(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(m_mutex);
  m_values[name][labels] += value;
}

void Metrics::set(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(m_mutex);
  m_values[name][labels] = value;
}

void Metrics::observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard lock(m_mutex);
  auto& h = m_histograms[name][labels];
  if (h.counts.empty()) h.counts.assign(buckets().size(), 0);
  for (std::size_t i = 0; i < buckets().size(); ++i)
    if (seconds <= buckets()[i]) h.counts[i] += 1;
  h.sum += seconds;
  h.count += 1;
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(m_mutex);
  m_meta[name] = {type, help};
}

std::string Metrics::render() const {
  std::lock_guard lock(m_mutex);
  std::string out;
  for (const auto& [name, meta] : m_meta) {
    out += "# HELP " + name + " " + meta.second + "\n# TYPE " + name + " " + meta.first + "\n";
    if (auto it = m_values.find(name); it != m_values.end())
      for (const auto& [labels, v] : it->second) out += with_labels(name, labels) + " " + number(v) + "\n";
    if (auto it = m_histograms.find(name); it != m_histograms.end())
      for (const auto& [labels, h] : it->second) {
        std::string sep = labels.empty() ? "" : labels + ",";
        for (std::size_t i = 0; i < buckets().size(); ++i)
          out += name + "_bucket{" + sep + "le=\"" + number(buckets()[i]) + "\"} " + number(h.counts[i]) + "\n";
        out += name + "_bucket{" + sep + "le=\"+Inf\"} " + number(h.count) + "\n";
        out += with_labels(name + "_sum", labels) + " " + number(h.sum) + "\n";
        out += with_labels(name + "_count", labels) + " " + number(h.count) + "\n";
      }
  }
  return out;
}

}  // namespace portcullis::daemon
