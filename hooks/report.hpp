#pragma once
// What the gate found, and how it is shown: `remote:` lines a person can act on, or JSON.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::hooks {

enum class Level { error, warning, notice };

struct Finding {
  Level level = Level::error;
  std::string rule;     // stable rule id
  std::string ref;      // the ref it concerns; empty for the push as a whole
  std::string file;     // path in the repository; empty for ref-level findings
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string object;   // "Deployment web", when it concerns one object
  std::string message;  // what is wrong
  std::string hint;     // one line on how to fix it; empty = the rule's default hint
};

struct Stats {
  std::size_t refs = 0;
  std::size_t files = 0;    // files read and checked
  std::size_t objects = 0;  // Kubernetes objects checked
  std::int64_t duration_ms = 0;
};

struct Report {
  std::vector<Finding> findings;
  Stats stats;
  bool fail_open = false;  // accepted only because failMode is open
  std::vector<std::string> notes;  // one-line notices (schema validation off, ...)
  std::string break_glass;                // the reason, when break-glass was used
  std::vector<std::string> bypassed;      // rule ids break-glass bypassed

  std::size_t errors() const;
  std::size_t warnings() const;
  bool rejected() const { return errors() > 0; }
  void add(Finding f) { findings.push_back(std::move(f)); }
};

// The default one-line fix for a rule id.
std::string_view default_hint(std::string_view rule);

// Text for a terminal or `git push` output, grouped by ref and file, ending in a summary line.
// Every name and message in it goes through printable().
std::string render_text(const Report& report);
// The same as one JSON object.
std::string render_json(const Report& report);

// `text` made safe to show on one terminal line: control characters (C0, DEL, C1) and
// Unicode bidirectional controls become escapes (\n, \t, \x1b, \u202e), bytes that are not
// UTF-8 become \xff; everything else, backslashes included, is kept as is.
std::string printable(std::string_view text);

}  // namespace portcullis::hooks
