#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shared/util/fs.hpp"
#include "tests/unit/support/tempdir.hpp"

using namespace portcullis;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return {names.begin(), names.end()};
}

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : m_old(::umask(mask)) {}
  ~ScopedUmask() { ::umask(m_old); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t m_old;
};

}  // namespace

TEST_CASE("read_file reads whole files up to a limit", "[fs]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    std::string content;
    std::uint64_t limit;
    bool ok;
  };
  const Case cases[] = {
      {"empty file", "", 0, true},
      {"small file, default limit", "hello\n", 64ull << 20, true},
      {"exactly the limit", std::string(4096, 'a'), 4096, true},
      {"one byte over the limit", std::string(4097, 'a'), 4096, false},
      {"far over the limit", std::string(100000, 'b'), 10, false},
      {"binary content", std::string("\0\x01\xff\n", 4), 4, true},
      {"larger than a read buffer", std::string(300000, 'c'), 1 << 20, true},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    auto path = tmp.write("f" + std::to_string(n++), c.content);
    auto r = util::read_file(path, c.limit);
    auto m = util::MappedFile::open(path, c.limit);  // the same file mapped: the same answers
    CHECK(r.has_value() == c.ok);
    CHECK(m.has_value() == c.ok);
    if (r.has_value() != c.ok || m.has_value() != c.ok) continue;
    if (r) {
      CHECK(*r == c.content);
      CHECK(m->bytes() == c.content);
    } else {
      CHECK_THAT(r.error().message,
                 Catch::Contains(path.string()) && Catch::Contains(std::to_string(c.limit)));
      CHECK_THAT(m.error().message,
                 Catch::Contains(path.string()) && Catch::Contains(std::to_string(c.limit)));
    }
  }
  auto missing = util::read_file(tmp / "missing");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("missing") && Catch::Contains("No such file"));
  CHECK_FALSE(util::MappedFile::open(tmp / "missing"));
  fs::create_directories(tmp / "dir");
  CHECK_FALSE(util::read_file(tmp / "dir"));
  CHECK_FALSE(util::MappedFile::open(tmp / "dir"));
}

TEST_CASE("a mapped file keeps its bytes when the file is replaced and moves with its owner", "[fs]") {
  test::TempDir tmp;
  const auto path = tmp.write("cache", std::string(10000, 'a'));
  auto m = util::MappedFile::open(path);
  REQUIRE(m);
  // Caches are replaced by rename: a reader keeps the version it mapped.
  REQUIRE(util::write_file(path, std::string(20000, 'b')));
  CHECK(m->bytes() == std::string(10000, 'a'));
  util::MappedFile moved = std::move(*m);
  CHECK(moved.bytes() == std::string(10000, 'a'));
  CHECK(m->bytes().empty());
  auto again = util::MappedFile::open(path);
  REQUIRE(again);
  moved = std::move(*again);
  CHECK(moved.bytes() == std::string(20000, 'b'));
}

TEST_CASE("only regular files are mapped; a FIFO is refused without waiting for a writer", "[fs]") {
  test::TempDir tmp;
  REQUIRE(::mkfifo((tmp / "fifo").c_str(), 0600) == 0);
  fs::create_directories(tmp / "empty-dir");
  for (const char* name : {"fifo", "empty-dir"}) {
    INFO(name);
    auto m = util::MappedFile::open(tmp / name);
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains(name) && Catch::Contains("not a regular file"));
  }
}

TEST_CASE("keep_newest keeps the newest files of one extension and removes stale temporaries", "[fs]") {
  test::TempDir tmp;
  const auto now = fs::file_time_type::clock::now();
  auto file = [&](const std::string& name, std::chrono::minutes age) {
    const auto path = tmp.write(name, "x");
    fs::last_write_time(path, now - age);
    return path;
  };
  for (int i = 0; i < 5; ++i) file("old-" + std::to_string(i) + ".idx", std::chrono::minutes(10 + i));
  file("other.tree", std::chrono::minutes(100));                                  // another extension
  file("a.idx.tmp-stale123", util::k_stale_temporary + std::chrono::minutes(1));  // its writer was killed
  file("b.idx.tmp-fresh123", std::chrono::minutes(1));                            // its writer may be writing
  file("c.tree.tmp-stale123", std::chrono::minutes(100));                         // another extension's
  const auto written = file("written.idx", std::chrono::minutes(1000));  // just written, whatever its clock
  util::keep_newest(tmp.path(), ".idx", 3, written);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(tmp.path())) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"b.idx.tmp-fresh123", "c.tree.tmp-stale123", "old-0.idx",
                                         "old-1.idx", "other.tree", "written.idx"});
}

TEST_CASE("write_file replaces files atomically with the requested mode", "[fs]") {
  test::TempDir tmp;
  ScopedUmask mask(027);  // the requested mode wins over the umask

  struct Case {
    const char* name;
    std::string content;
    std::optional<unsigned> mode;  // nullopt: the default
    unsigned expected_mode;
  };
  const Case cases[] = {
      {"new file, default mode", "first\n", std::nullopt, 0644},
      {"replaced, private", "second, longer than the first\n", 0600, 0600},
      {"replaced, shorter", "3\n", 0640, 0640},
      {"replaced, executable", "#!/bin/sh\n", 0755, 0755},
      {"replaced, empty, default mode", "", std::nullopt, 0644},
  };
  const fs::path target = tmp / "out/file.txt";
  fs::create_directories(target.parent_path());
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = c.mode ? util::write_file(target, c.content, *c.mode) : util::write_file(target, c.content);
    INFO((r ? std::string() : r.error().message));
    CHECK(r);
    if (!r) continue;
    CHECK(slurp(target) == c.content);
    CHECK(mode_of(target) == c.expected_mode);
    CHECK(names_in(target.parent_path()) == std::vector<std::string>{"file.txt"});  // no temporary left
  }

  SECTION("a reader of the old file keeps the old content") {
    REQUIRE(util::write_file(target, "old content\n"));
    std::ifstream reader(target, std::ios::binary);
    REQUIRE(reader);
    REQUIRE(util::write_file(target, "new content\n"));
    std::string line;
    std::getline(reader, line);
    CHECK(line == "old content");
    CHECK(slurp(target) == "new content\n");
  }

  SECTION("content in parts is written one part after another") {
    REQUIRE(util::write_file(target, {"header:", "", std::string(70000, 'x'), ":end"}, 0600));
    CHECK(slurp(target) == "header:" + std::string(70000, 'x') + ":end");
    CHECK(mode_of(target) == 0600);
    REQUIRE(util::write_file(target, std::initializer_list<std::string_view>{}));
    CHECK(slurp(target).empty());
  }

  SECTION("a missing directory is an error naming the file") {
    auto r = util::write_file(tmp / "nowhere/file.txt", "x");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("nowhere"));
    CHECK_FALSE(fs::exists(tmp / "nowhere"));
  }
}

TEST_CASE("append_line appends whole lines and creates what is missing", "[fs]") {
  test::TempDir tmp;
  const fs::path log = tmp / "a/b/audit.jsonl";
  const char* lines[] = {"{\"n\":1}\n", "{\"n\":2}\n", "\n", "{\"n\":4}\n"};
  std::string expected;
  for (const char* line : lines) {
    INFO(line);
    REQUIRE(util::append_line(log, line));
    expected += line;
    CHECK(slurp(log) == expected);
  }
  tmp.write("existing.log", "kept\n");
  REQUIRE(util::append_line(tmp / "existing.log", "added\n"));
  CHECK(slurp(tmp / "existing.log") == "kept\nadded\n");

  fs::create_directories(tmp / "dir-not-file");
  CHECK_FALSE(util::append_line(tmp / "dir-not-file", "x\n"));
}

TEST_CASE("concurrent append_line calls never interleave lines", "[fs]") {
  test::TempDir tmp;
  const fs::path log = tmp / "audit.jsonl";
  constexpr int k_threads = 8;
  constexpr int k_lines = 200;
  // Lines long enough that an interleaved write would be visible.
  auto line_of = [](int t, int i) {
    return "{\"thread\":" + std::to_string(t) + ",\"line\":" + std::to_string(i) + ",\"pad\":\"" +
           std::string(200 + static_cast<std::size_t>(t), static_cast<char>('a' + t)) + "\"}\n";
  };
  std::vector<int> failures(k_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_lines; ++i)
        if (!util::append_line(log, line_of(t, i))) ++failures[static_cast<std::size_t>(t)];
    });
  for (auto& th : threads) th.join();
  CHECK(failures == std::vector<int>(k_threads, 0));

  std::ifstream in(log, std::ios::binary);
  std::string line;
  std::map<int, int> next;  // thread -> next expected line: each thread's lines stay in order
  int total = 0, bad = 0;
  while (std::getline(in, line)) {
    ++total;
    int t = -1, i = -1;
    if (std::sscanf(line.c_str(), "{\"thread\":%d,\"line\":%d,", &t, &i) != 2 || t < 0 || t >= k_threads ||
        line + "\n" != line_of(t, i) || next[t] != i) {
      ++bad;
      continue;
    }
    ++next[t];
  }
  CHECK(bad == 0);
  CHECK(total == k_threads * k_lines);
  for (int t = 0; t < k_threads; ++t) CHECK(next[t] == k_lines);
}

TEST_CASE("make_temp_dir creates fresh directories", "[fs]") {
  test::TempDir tmp;
  auto a = util::make_temp_dir(tmp.path(), "stage-");
  auto b = util::make_temp_dir(tmp.path(), "stage-");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  for (const auto& d : {*a, *b}) {
    INFO(d);
    CHECK(fs::is_directory(d));
    CHECK(d.parent_path() == tmp.path());
    CHECK(d.filename().string().rfind("stage-", 0) == 0);
    CHECK(d.filename().string().size() == 6 + 6);
    CHECK(fs::is_empty(d));
  }
  auto missing = util::make_temp_dir(tmp / "no/such/parent", "x");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("no/such/parent"));
}

TEST_CASE("replace_directory swaps a directory into place", "[fs]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    bool target_exists;
  };
  const Case cases[] = {{"target missing", false}, {"target replaced", true}};
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    const fs::path root = tmp / ("case" + std::to_string(n++));
    const fs::path from = root / "staging", to = root / "store";
    tmp.write((from / "new.json").lexically_relative(tmp.path()).string(), "new");
    tmp.write((from / "sub/deep.json").lexically_relative(tmp.path()).string(), "deep");
    if (c.target_exists) {
      tmp.write((to / "old.json").lexically_relative(tmp.path()).string(), "old");
      tmp.write((to / "olddir/x").lexically_relative(tmp.path()).string(), "x");
    }
    auto r = util::replace_directory(from, to);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    CHECK(slurp(to / "new.json") == "new");
    CHECK(slurp(to / "sub/deep.json") == "deep");
    CHECK_FALSE(fs::exists(to / "old.json"));
    CHECK_FALSE(fs::exists(to / "olddir"));
    CHECK(names_in(root) == std::vector<std::string>{"store"});  // staging moved, old tree removed
  }

  SECTION("a missing source fails and leaves the target alone") {
    const fs::path to = tmp / "kept";
    tmp.write("kept/old.json", "old");
    auto r = util::replace_directory(tmp / "absent", to);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("absent"));
    CHECK(slurp(to / "old.json") == "old");
    std::vector<std::string> names = names_in(tmp.path());
    CHECK(std::count_if(names.begin(), names.end(),
                        [](const std::string& s) { return s.rfind("kept", 0) == 0; }) == 1);
  }
}

TEST_CASE("TempDirGuard removes its tree unless released", "[fs]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    bool release;
  };
  const Case cases[] = {{"removed", false}, {"released", true}};
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    const fs::path dir = tmp / ("guarded" + std::to_string(n++));
    tmp.write((dir / "a/b/c.txt").lexically_relative(tmp.path()).string(), "x");
    {
      util::TempDirGuard guard(dir);
      if (c.release) guard.release();
      CHECK(fs::exists(dir / "a/b/c.txt"));
    }
    CHECK(fs::exists(dir) == c.release);
  }
  { util::TempDirGuard nothing(tmp / "never-created"); }
  CHECK_FALSE(fs::exists(tmp / "never-created"));
  CHECK(fs::exists(tmp.path()));
}

TEST_CASE("errno_text describes errno values", "[fs]") {
  CHECK_THAT(util::errno_text(ENOENT), Catch::Contains("No such file"));
  CHECK_THAT(util::errno_text(EACCES), Catch::Contains("Permission denied"));
}
