#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/inventory.hpp"
#include "shared/util/strings.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

InventoryEntry entry(std::string path, std::string ns = "shop") {
  return InventoryEntry{"apps/v1", "Deployment", std::move(ns), "web", "0b6f9d2e-1c4a-4d5e-9f00-123456789abc",
                        std::string(64, 'a'), std::move(path)};
}

bool same(const InventoryEntry& a, const InventoryEntry& b) {
  return a.api_version == b.api_version && a.kind == b.kind && a.namespace_ == b.namespace_ && a.name == b.name &&
         a.uid == b.uid && a.hash == b.hash && a.path == b.path;
}

}  // namespace

TEST_CASE("inventory entries survive an encode/decode round trip, hostile paths included", "[inventory]") {
  const std::vector<InventoryEntry> entries{
      entry("apps/web.yaml"),
      InventoryEntry{"rbac.authorization.k8s.io/v1", "ClusterRole", "", "admin:view", "", "", "rbac/roles.yaml"},
      entry("with\ttab.yaml"),
      entry("with\nnewline.yaml"),
      entry("back\\slash.yaml"),
      entry("trailing-backslash\\"),
      entry("\\"),
      entry("\\\\double"),
      entry("looks escaped \\t \\n \\\\ .yaml"),
      entry("backslash before tab \\\t and newline \\\n"),
      entry("\t\n\\\t\n\\"),
      entry("cr\r.yaml"),
      entry("ünïcode/файл.yaml"),
      entry("spaces in name.yaml", "team a"),
      entry(""),
  };
  std::string text = encode_entries(entries);

  // One line per entry, seven fields each: no raw tab or newline escapes a field.
  auto lines = util::split(text, '\n');
  REQUIRE(lines.size() == entries.size() + 1);
  CHECK(lines.back().empty());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    INFO("line " << i + 1 << ": " << lines[i]);
    CHECK(util::split(lines[i], '\t').size() == 7);
  }

  auto decoded = decode_entries(text);
  INFO((decoded ? std::string() : decoded.error().describe()));
  REQUIRE(decoded);
  REQUIRE(decoded->size() == entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    INFO("entry " << i << ": path '" << entries[i].path << "' came back as '" << (*decoded)[i].path << "'");
    CHECK(same((*decoded)[i], entries[i]));
  }

  // Every field is escaped, not only the path.
  InventoryEntry odd{"v1\t", "Config\nMap", "n\\s", "na\tme", "u\nid", "h\\", "p"};
  auto odd_back = decode_entries(encode_entries({odd}));
  REQUIRE(odd_back);
  REQUIRE(odd_back->size() == 1);
  CHECK(same(odd_back->front(), odd));
}

TEST_CASE("an empty inventory encodes to nothing and decodes to no entries", "[inventory]") {
  CHECK(encode_entries({}).empty());
  for (const char* text : {"", "\n", "\n\n"}) {
    auto d = decode_entries(text);
    REQUIRE(d);
    CHECK(d->empty());
  }
}

TEST_CASE("damaged inventory lines are rejected with their line number", "[inventory]") {
  const std::string good = encode_entries({entry("a.yaml")});
  struct Case {
    const char* name;
    std::string text;
    const char* message_part;
  };
  const Case cases[] = {
      {"too few fields", "v1\tConfigMap\tns\tname\n", "line 1"},
      {"one field", "garbage\n", "line 1"},
      {"too many fields", "v1\tConfigMap\tns\tname\tuid\thash\tpath\textra\n", "line 1"},
      {"a damaged line after a good one", good + "v1\tConfigMap\n", "line 2"},
      {"a good line after a blank and a damaged one", "\nv1\tConfigMap\n" + good, "line 2"},
      {"a line cut short at the end", good + good.substr(0, good.size() / 2), "line 2"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto d = decode_entries(c.text);
    REQUIRE_FALSE(d);
    CHECK_THAT(d.error().message, Catch::Contains(c.message_part) && Catch::Contains("damaged"));
  }
}

TEST_CASE("inventory_name names the ConfigMap of a target", "[inventory]") {
  CHECK(inventory_name("prod") == "portcullis-inventory-prod");
  CHECK(inventory_name("eu-west-1") == "portcullis-inventory-eu-west-1");
  CHECK(inventory_name("prod") != inventory_name("prod2"));
}

TEST_CASE("InventoryEntry::key is group/Kind/namespace/name, shared by versions of one kind", "[inventory]") {
  auto key = [](const char* api_version, const char* kind, const char* ns, const char* name) {
    return InventoryEntry{api_version, kind, ns, name, "uid", "hash", "path"}.key();
  };
  CHECK(key("apps/v1", "Deployment", "shop", "web") == "apps/Deployment/shop/web");
  CHECK(key("v1", "ConfigMap", "shop", "web") == "/ConfigMap/shop/web");
  CHECK(key("rbac.authorization.k8s.io/v1", "ClusterRole", "", "admin") == "rbac.authorization.k8s.io/ClusterRole//admin");

  // Versions of one kind are one object.
  CHECK(key("apps/v1", "Deployment", "shop", "web") == key("apps/v1beta2", "Deployment", "shop", "web"));
  CHECK(key("autoscaling/v1", "HorizontalPodAutoscaler", "a", "h") ==
        key("autoscaling/v2", "HorizontalPodAutoscaler", "a", "h"));

  // Anything else tells objects apart; uid, hash and path are not part of the key.
  CHECK(key("apps/v1", "Deployment", "shop", "web") != key("extensions/v1beta1", "Deployment", "shop", "web"));
  CHECK(key("apps/v1", "Deployment", "shop", "web") != key("apps/v1", "StatefulSet", "shop", "web"));
  CHECK(key("apps/v1", "Deployment", "shop", "web") != key("apps/v1", "Deployment", "shop2", "web"));
  CHECK(key("apps/v1", "Deployment", "shop", "web") != key("apps/v1", "Deployment", "shop", "web2"));
  CHECK(key("v1", "ConfigMap", "", "x") != key("v1", "ConfigMap", "default", "x"));
  InventoryEntry a = entry("a.yaml"), b = entry("b.yaml");
  b.uid = "other";
  b.hash = "other";
  CHECK(a.key() == b.key());
}
