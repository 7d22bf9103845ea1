#include <catch2/catch.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/metrics.hpp"
#include "shared/util/strings.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // values unescaped
  std::string value_text;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;   // family -> help (unescaped)
  std::vector<Sample> samples;

  // The samples of `name` whose labels include `labels`.
  std::vector<Sample> find(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels)
        if (auto it = s.labels.find(k); it == s.labels.end() || it->second != v) match = false;
      if (match) out.push_back(s);
    }
    return out;
  }
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    auto found = find(name, labels);
    INFO(name);
    REQUIRE(found.size() == 1);
    return found[0].value;
  }
};

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

std::optional<double> parse_value(const std::string& text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return NAN;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// The family a sample belongs to: histograms expose name_bucket, name_sum and name_count.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string_view s(suffix);
    if (name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      if (auto it = types.find(base); it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

// Parses the Prometheus text exposition format (version 0.0.4) line by line, strictly: every
// line is a HELP, a TYPE or a sample; names, label names and escapes are checked; each family
// has one TYPE, before its samples, and its samples are contiguous.
Exposition parse_exposition(const std::string& text) {
  Exposition out;
  INFO(text);
  REQUIRE((text.empty() || text.back() == '\n'));
  std::set<std::string> closed;  // families whose samples ended
  std::string current;
  std::size_t n = 0;
  for (auto line_view : util::split(text, '\n')) {
    ++n;
    std::string line(line_view);
    INFO("line " << n << ": " << line);
    if (line.empty()) {
      CHECK(n == util::split(text, '\n').size());  // only the end of the text
      continue;
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      bool help = line[2] == 'H';
      std::string rest = line.substr(7);
      auto space = rest.find(' ');
      REQUIRE(space != std::string::npos);
      std::string name = rest.substr(0, space);
      REQUIRE_FALSE(name.empty());
      CHECK(name_start(name[0]));
      for (char c : name) CHECK(name_char(c));
      std::string arg = rest.substr(space + 1);
      CHECK_FALSE(closed.contains(name));
      CHECK(current != name);  // no HELP or TYPE among its own samples
      if (help) {
        std::string unescaped;
        for (std::size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] != '\\') {
            unescaped += arg[i];
            continue;
          }
          REQUIRE(i + 1 < arg.size());
          char e = arg[++i];
          CHECK((e == '\\' || e == 'n'));
          unescaped += e == 'n' ? '\n' : e;
        }
        CHECK_FALSE(out.help.contains(name));
        out.help[name] = unescaped;
      } else {
        CHECK(std::set<std::string>{"counter", "gauge", "histogram", "summary", "untyped"}.contains(arg));
        CHECK_FALSE(out.types.contains(name));
        out.types[name] = arg;
      }
      continue;
    }
    REQUIRE(line[0] != '#');
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && name_char(line[i])) s.name += line[i++];
    REQUIRE_FALSE(s.name.empty());
    CHECK(name_start(s.name[0]));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string label;
        while (i < line.size() && name_char(line[i]) && line[i] != ':') label += line[i++];
        REQUIRE_FALSE(label.empty());
        CHECK_FALSE(std::isdigit(static_cast<unsigned char>(label[0])));
        REQUIRE(i + 1 < line.size());
        REQUIRE(line[i] == '=');
        REQUIRE(line[i + 1] == '"');
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            REQUIRE(i + 1 < line.size());
            char e = line[i + 1];
            CHECK((e == '\\' || e == '"' || e == 'n'));
            value += e == 'n' ? '\n' : e;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        REQUIRE(i < line.size());
        ++i;  // closing quote
        CHECK_FALSE(s.labels.contains(label));
        s.labels[label] = value;
        REQUIRE(i < line.size());
        if (line[i] == ',') ++i;
      }
      REQUIRE(i < line.size());
      ++i;  // '}'
    }
    REQUIRE(i < line.size());
    REQUIRE(line[i] == ' ');
    s.value_text = line.substr(i + 1);
    CHECK(s.value_text.find(' ') == std::string::npos);  // no timestamps from us
    auto v = parse_value(s.value_text);
    REQUIRE(v);
    s.value = *v;
    std::string family = family_of(s.name, out.types);
    CHECK(out.types.contains(family));  // TYPE comes first
    CHECK_FALSE(closed.contains(family));
    if (family != current) {
      if (!current.empty()) closed.insert(current);
      current = family;
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

const std::vector<std::string> k_bucket_bounds{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                               "1",     "2.5",  "5",     "10",   "30",  "60"};

}  // namespace

TEST_CASE("counters add up per label set", "[metrics]") {
  Metrics m;
  m.describe("portcullis_syncs_total", "counter", "Syncs by target and result.");
  m.add("portcullis_syncs_total", "target=\"prod\",result=\"Synced\"");
  m.add("portcullis_syncs_total", "target=\"prod\",result=\"Synced\"");
  m.add("portcullis_syncs_total", "target=\"prod\",result=\"Failed\"", 3);
  m.add("portcullis_syncs_total", "target=\"dev\",result=\"Synced\"", 0.5);
  m.describe("portcullis_fetch_errors_total", "counter", "Failed fetches of the repository.");
  m.add("portcullis_fetch_errors_total", "");
  m.add("portcullis_fetch_errors_total", "", 41);

  auto e = parse_exposition(m.render());
  CHECK(e.types.at("portcullis_syncs_total") == "counter");
  CHECK(e.help.at("portcullis_syncs_total") == "Syncs by target and result.");
  CHECK(e.value("portcullis_syncs_total", {{"target", "prod"}, {"result", "Synced"}}) == 2);
  CHECK(e.value("portcullis_syncs_total", {{"target", "prod"}, {"result", "Failed"}}) == 3);
  CHECK(e.value("portcullis_syncs_total", {{"target", "dev"}, {"result", "Synced"}}) == 0.5);
  CHECK(e.find("portcullis_syncs_total").size() == 3);
  CHECK(e.value("portcullis_fetch_errors_total") == 42);
  auto plain = e.find("portcullis_fetch_errors_total");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].labels.empty());
  CHECK(plain[0].value_text == "42");
  CHECK_THAT(m.render(), Catch::Contains("\nportcullis_fetch_errors_total 42\n"));
  CHECK_THAT(m.render(), Catch::Contains("\nportcullis_syncs_total{target=\"prod\",result=\"Synced\"} 2\n"));
}

TEST_CASE("gauges keep the last value set", "[metrics]") {
  Metrics m;
  m.describe("portcullis_managed_objects", "gauge", "Objects a target declares.");
  m.set("portcullis_managed_objects", "target=\"prod\"", 12);
  m.set("portcullis_managed_objects", "target=\"prod\"", 7);
  m.set("portcullis_managed_objects", "target=\"dev\"", 0);
  m.set("portcullis_managed_objects", "target=\"big\"", 123456789);
  auto e = parse_exposition(m.render());
  CHECK(e.types.at("portcullis_managed_objects") == "gauge");
  CHECK(e.value("portcullis_managed_objects", {{"target", "prod"}}) == 7);
  CHECK(e.value("portcullis_managed_objects", {{"target", "dev"}}) == 0);
  CHECK(e.find("portcullis_managed_objects", {{"target", "big"}})[0].value_text == "123456789");
}

TEST_CASE("histograms expose cumulative buckets, +Inf, _sum and _count", "[metrics]") {
  Metrics m;
  m.describe("portcullis_sync_duration_seconds", "histogram", "Duration of syncs.");
  const std::vector<double> observed{0.003, 0.02, 0.1, 0.7, 1, 45, 100};
  for (double v : observed) m.observe("portcullis_sync_duration_seconds", "target=\"prod\"", v);
  m.observe("portcullis_sync_duration_seconds", "target=\"dev\"", 2);
  m.describe("portcullis_notify_latency_seconds", "histogram", "From event to sync.");
  m.observe("portcullis_notify_latency_seconds", "", 0.25);

  auto e = parse_exposition(m.render());
  CHECK(e.types.at("portcullis_sync_duration_seconds") == "histogram");
  auto buckets = e.find("portcullis_sync_duration_seconds_bucket", {{"target", "prod"}});
  REQUIRE(buckets.size() == k_bucket_bounds.size() + 1);
  std::vector<std::string> bounds;
  for (const auto& b : buckets) bounds.push_back(b.labels.at("le"));
  std::vector<std::string> expected_bounds = k_bucket_bounds;
  expected_bounds.push_back("+Inf");
  CHECK(bounds == expected_bounds);  // the label values a PromQL query spells

  // Cumulative: each bucket counts the observations <= its bound (bounds are inclusive).
  std::map<std::string, double> by_bound;
  for (const auto& b : buckets) by_bound[b.labels.at("le")] = b.value;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    double bound = *parse_value(buckets[i].labels.at("le"));
    double expected = 0;
    for (double v : observed) expected += v <= bound ? 1 : 0;
    INFO("le=" << buckets[i].labels.at("le"));
    CHECK(buckets[i].value == expected);
    if (i) CHECK(buckets[i].value >= buckets[i - 1].value);
  }
  CHECK(buckets.back().value == observed.size());
  CHECK(e.value("portcullis_sync_duration_seconds_count", {{"target", "prod"}}) == observed.size());
  CHECK(e.value("portcullis_sync_duration_seconds_sum", {{"target", "prod"}}) == Approx(146.823));
  CHECK(e.find("portcullis_sync_duration_seconds_bucket", {{"target", "dev"}, {"le", "1"}}).at(0).value == 0);
  CHECK(e.find("portcullis_sync_duration_seconds_bucket", {{"target", "dev"}, {"le", "2.5"}}).at(0).value == 1);
  CHECK(e.value("portcullis_sync_duration_seconds_count", {{"target", "dev"}}) == 1);

  // Without labels: le is the only label, _sum and _count have none.
  auto plain = e.find("portcullis_notify_latency_seconds_bucket");
  REQUIRE(plain.size() == k_bucket_bounds.size() + 1);
  for (const auto& b : plain) CHECK(b.labels.size() == 1);
  CHECK(e.value("portcullis_notify_latency_seconds_sum") == 0.25);
  CHECK(e.find("portcullis_notify_latency_seconds_count").at(0).labels.empty());
}

TEST_CASE("label values are escaped for the exposition format", "[metrics]") {
  struct Case {
    const char* raw;
    const char* escaped;
  };
  const Case cases[] = {
      {"prod", "prod"},
      {"a\"b", "a\\\"b"},
      {"back\\slash", "back\\\\slash"},
      {"new\nline", "new\\nline"},
      {"\\n", "\\\\n"},
      {"", ""},
      {"ünï ✓", "ünï ✓"},
  };
  Metrics m;
  m.describe("x_total", "counter", "X.");
  double i = 0;
  for (const auto& c : cases) {
    INFO(c.raw);
    CHECK(label_value(c.raw) == c.escaped);
    m.add("x_total", "target=\"" + label_value(c.raw) + "\"", ++i);
  }
  // Every value reads back as written.
  auto e = parse_exposition(m.render());
  i = 0;
  for (const auto& c : cases) {
    INFO(c.raw);
    CHECK(e.value("x_total", {{"target", c.raw}}) == ++i);
  }
}

TEST_CASE("every described metric has one HELP and one TYPE line, before its samples", "[metrics]") {
  Metrics m;
  m.describe("b_total", "counter", "B things.");
  m.describe("a_seconds", "histogram", "A durations.");
  m.describe("c_info", "gauge", "C, as a label.");
  m.describe("d_total", "counter", "Nothing counted yet.");
  m.add("b_total", "x=\"1\"");
  m.add("b_total", "x=\"2\"");
  m.observe("a_seconds", "", 0.5);
  m.set("c_info", "revision=\"0123abc\"", 1);
  std::string text = m.render();
  auto e = parse_exposition(text);  // checks the order and the uniqueness
  CHECK(e.types == std::map<std::string, std::string>{
                       {"a_seconds", "histogram"}, {"b_total", "counter"}, {"c_info", "gauge"}, {"d_total", "counter"}});
  CHECK(e.help.at("d_total") == "Nothing counted yet.");
  CHECK(e.find("d_total").empty());
  // HELP then TYPE, each once.
  CHECK_THAT(text, Catch::Contains("# HELP b_total B things.\n# TYPE b_total counter\n"));
  std::size_t help_lines = 0, type_lines = 0;
  for (auto line : util::split(text, '\n')) {
    help_lines += line.starts_with("# HELP ");
    type_lines += line.starts_with("# TYPE ");
  }
  CHECK(help_lines == 4);
  CHECK(type_lines == 4);
  CHECK(Metrics().render().empty());
}

TEST_CASE("metrics can be updated from many threads while rendered", "[metrics]") {
  Metrics m;
  m.describe("n_total", "counter", "N.");
  m.describe("d_seconds", "histogram", "D.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        m.add("n_total", "");
        m.observe("d_seconds", "", 0.01);
        if (i % 100 == 0) (void)m.render();
      }
    });
  for (auto& t : threads) t.join();
  auto e = parse_exposition(m.render());
  CHECK(e.value("n_total") == 4000);
  CHECK(e.value("d_seconds_count") == 4000);
  CHECK(e.find("d_seconds_bucket", {{"le", "0.01"}}).at(0).value == 4000);
}
