#include "daemon/drift.hpp"

#include <cmath>
#include <cstdlib>
#include <optional>

#include "daemon/inventory.hpp"
#include "shared/yaml/emit.hpp"
#include "shared/util/strings.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

using yaml::Node;
using yaml::Type;

namespace {

// The value of a Kubernetes quantity, or nullopt when `s` is not one.
std::optional<long double> quantity_value(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  std::size_t start = i;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == start) return std::nullopt;
  std::string number(s.substr(0, i));
  char* end = nullptr;
  long double v = std::strtold(number.c_str(), &end);
  if (!end || *end) return std::nullopt;
  std::string_view suffix = s.substr(i);
  struct Suffix {
    std::string_view text;
    long double scale;
  };
  static const Suffix suffixes[] = {{"", 1},          {"n", 1e-9L},          {"u", 1e-6L},         {"m", 1e-3L},
                                    {"k", 1e3L},      {"M", 1e6L},           {"G", 1e9L},          {"T", 1e12L},
                                    {"P", 1e15L},     {"E", 1e18L},          {"Ki", 1024.0L},      {"Mi", 1048576.0L},
                                    {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L}, {"Pi", 1125899906842624.0L},
                                    {"Ei", 1152921504606846976.0L}};
  for (const auto& x : suffixes)
    if (suffix == x.text) return v * x.scale;
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string exp(suffix.substr(1));
    char* e2 = nullptr;
    long ex = std::strtol(exp.c_str(), &e2, 10);
    if (e2 && !*e2) return v * std::pow(10.0L, static_cast<long double>(ex));
  }
  return std::nullopt;
}

std::string escape_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

bool scalar_equal(const Node& d, const Node& l) {
  if (d.type == l.type) {
    switch (d.type) {
      case Type::null: return true;
      case Type::boolean: return d.value.boolean == l.value.boolean;
      case Type::integer: return d.value.integer == l.value.integer;
      case Type::number: return d.value.number == l.value.number;
      case Type::string:
        if (d.text == l.text) return true;
        return same_quantity(d.text, l.text);
      default: return false;
    }
  }
  // Numbers written in Git and quantities the apiserver canonicalised ("cpu: 1" -> "1").
  auto as_text = [](const Node& n) -> std::string {
    if (n.type == Type::string) return std::string(n.text);
    return yaml::to_json(n);
  };
  bool numeric = (d.type == Type::integer || d.type == Type::number || d.type == Type::string) &&
                 (l.type == Type::integer || l.type == Type::number || l.type == Type::string);
  if (numeric) return same_quantity(as_text(d), as_text(l));
  return false;
}

bool empty_value(const Node& n) {
  return n.type == Type::null || (n.is_mapping() && n.entries.empty()) || (n.is_sequence() && n.items.empty());
}

// A scalar the apiserver omits when it serialises a field tagged omitempty: false, 0, "".
bool zero_scalar(const Node& n) {
  switch (n.type) {
    case Type::boolean: return !n.value.boolean;
    case Type::integer: return n.value.integer == 0;
    case Type::number: return n.value.number == 0;
    case Type::string: return n.text.empty();
    default: return false;
  }
}

// What the target's apply entry owns at one level of the object: a fieldsV1 node, or
// everything below (an atomic value, or a server that keeps no managedFields), or nothing.
struct Owned {
  const Node* fields = nullptr;
  bool all = false;
  bool recorded = true;  // false: the server keeps no managedFields, ownership is not known
  bool any() const { return all || fields; }
  // Owned according to the live managedFields (not merely assumed).
  bool known() const { return recorded && any(); }
};

Owned owned_entry(const Node* entry) {
  if (!entry) return {};
  if (entry->is_mapping() && !entry->entries.empty()) return {entry, false};
  return {nullptr, true};  // "{}": the whole value is owned (a leaf, or an atomic map or list)
}

Owned owned_key(const Owned& o, std::string_view key) {
  if (o.all) return o;
  if (!o.fields) return {};
  return owned_entry(o.fields->get("f:" + std::string(key)));
}

// The entry of a list item: "k:{...}" whose key fields the live item has, "v:<json>" for a set
// member, or "i:<index>".
Owned owned_item(const Owned& o, const Node& live_item, std::size_t index) {
  if (o.all) return o;
  if (!o.fields) return {};
  const std::string item_json = live_item.is_mapping() ? std::string() : yaml::to_json(live_item);
  for (const auto& e : o.fields->entries) {
    std::string_view k = e.key->text;
    if (k.starts_with("i:")) {
      if (k.substr(2) == std::to_string(index)) return owned_entry(e.value);
    } else if (k.starts_with("v:")) {
      if (!item_json.empty() && k.substr(2) == item_json) return owned_entry(e.value);
    } else if (k.starts_with("k:") && live_item.is_mapping()) {
      auto key = yaml::parse_json(k.substr(2));
      if (!key || key->documents.empty() || !key->documents[0].root || !key->documents[0].root->is_mapping()) continue;
      bool match = true;
      for (const auto& field : key->documents[0].root->entries) {
        const Node* v = live_item.get(field.key->text);
        if (!v || yaml::to_json(*v) != yaml::to_json(*field.value)) {
          match = false;
          break;
        }
      }
      if (match) return owned_entry(e.value);
    }
  }
  return {};
}

// Whether `d`, absent from the live object, is what the apiserver stores as nothing: an empty
// value, or zero values of fields the target still owns (omitempty drops them on the way out;
// a field someone removed is no longer in the target's apply entry).
bool stored_as_absent(const Node& d, const Owned& owned) {
  if (empty_value(d)) return true;
  if (zero_scalar(d)) return owned.any();
  if (!d.is_mapping() || !owned.any()) return false;
  for (const auto& e : d.entries)
    if (!stored_as_absent(*e.value, owned_key(owned, e.key->text))) return false;
  return true;
}

void compare(const Node& d, const Node* l, const Owned& owned, std::string& path, std::vector<std::string>& out,
             std::size_t limit) {
  if (out.size() >= limit) return;
  if (!l) {
    if (!stored_as_absent(d, owned)) out.push_back(path.empty() ? "/" : path);
    return;
  }
  if (d.is_mapping()) {
    if (!l->is_mapping()) {
      out.push_back(path.empty() ? "/" : path);
      return;
    }
    for (const auto& e : d.entries) {
      std::size_t mark = path.size();
      path += '/';
      path += escape_token(e.key->text);
      compare(*e.value, l->get(e.key->text), owned_key(owned, e.key->text), path, out, limit);
      path.resize(mark);
    }
    return;
  }
  if (d.is_sequence()) {
    // Items the server or another manager appended (admission-injected volumes, another
    // manager's container) are not fields this target manages; its own must be there, in order.
    if (!l->is_sequence() || l->items.size() < d.items.size()) {
      out.push_back(path.empty() ? "/" : path);
      return;
    }
    for (std::size_t i = 0; i < d.items.size(); ++i) {
      std::size_t mark = path.size();
      path += '/';
      path += std::to_string(i);
      compare(*d.items[i], l->items[i], owned_item(owned, *l->items[i], i), path, out, limit);
      path.resize(mark);
    }
    return;
  }
  if (d.type == Type::null) return;  // null: unset in Git, nothing managed
  // "" in Git is unset: the apiserver defaults it (schedulerName, dnsPolicy, imagePullPolicy).
  // Someone who sets another value takes the field out of the target's entry. (Only strings:
  // the scale subresource of 1.20 changes replicas without taking the field.)
  if (d.type == Type::string && d.text.empty() && owned.known()) return;
  if (!scalar_equal(d, *l)) out.push_back(path.empty() ? "/" : path);
}

// The fields of `manager`'s apply entry on `live` (or of the shared manager's, which the next
// apply releases). Everything when the server keeps no managedFields at all.
Owned owned_by(const Node& live, std::string_view manager) {
  if (manager.empty()) return {nullptr, true, false};
  const Node* fields = live.at({"metadata", "managedFields"});
  if (!fields || !fields->is_sequence() || fields->items.empty()) return {nullptr, true, false};
  const Node* legacy = nullptr;
  for (const Node* f : fields->items) {
    if (f->get_string("operation") != "Apply") continue;
    if (f->get_string("manager") == manager) return owned_entry(f->get("fieldsV1"));
    if (f->get_string("manager") == k_legacy_field_manager) legacy = f->get("fieldsV1");
  }
  return legacy ? owned_entry(legacy) : Owned{};
}

// Removes the node at `tokens` from the JSON text of `node` by re-emitting without it.
void emit_without(std::string& out, const Node& n, const std::vector<std::vector<std::string>>& drops, std::size_t depth,
                  std::vector<bool> active) {
  if (n.is_mapping()) {
    out += '{';
    bool first = true;
    for (const auto& e : n.entries) {
      std::vector<bool> next(drops.size(), false);
      bool drop = false;
      for (std::size_t i = 0; i < drops.size(); ++i) {
        if (!active[i] || drops[i].size() <= depth || drops[i][depth] != e.key->text) continue;
        if (drops[i].size() == depth + 1) drop = true;
        else next[i] = true;
      }
      if (drop) continue;
      if (!first) out += ',';
      first = false;
      out += '"' + util::json_escape(e.key->text) + "\":";
      emit_without(out, *e.value, drops, depth + 1, next);
    }
    out += '}';
    return;
  }
  if (n.is_sequence()) {
    out += '[';
    bool first = true;
    for (std::size_t idx = 0; idx < n.items.size(); ++idx) {
      std::vector<bool> next(drops.size(), false);
      bool drop = false;
      for (std::size_t i = 0; i < drops.size(); ++i) {
        if (!active[i] || drops[i].size() <= depth || drops[i][depth] != std::to_string(idx)) continue;
        if (drops[i].size() == depth + 1) drop = true;
        else next[i] = true;
      }
      if (drop) continue;
      if (!first) out += ',';
      first = false;
      emit_without(out, *n.items[idx], drops, depth + 1, next);
    }
    out += ']';
    return;
  }
  yaml::append_json(out, n);
}

}  // namespace

bool same_quantity(std::string_view a, std::string_view b) {
  if (a == b) return true;
  auto x = quantity_value(a), y = quantity_value(b);
  if (!x || !y) return false;
  long double scale = std::max(std::fabs(*x), std::fabs(*y));
  return std::fabs(*x - *y) <= scale * 1e-12L;
}

std::vector<std::string> drift_between(const Node& desired, const Node& live, std::size_t limit,
                                       std::string_view manager) {
  std::vector<std::string> out;
  std::string path;
  const Owned owned = owned_by(live, manager);
  if (!desired.is_mapping() || !live.is_mapping()) {
    compare(desired, &live, owned, path, out, limit);
    return out;
  }
  // apiVersion and kind name the object; list items come without them.
  for (const auto& e : desired.entries) {
    if (e.key->text == "apiVersion" || e.key->text == "kind") continue;
    path = "/" + escape_token(e.key->text);
    compare(*e.value, live.get(e.key->text), owned_key(owned, e.key->text), path, out, limit);
  }
  return out;
}

util::Result<std::string> without_pointers(std::string_view body, const std::vector<std::string>& pointers) {
  auto doc = yaml::parse_json(body, yaml::Limits{256, 10'000'000, 10'000'000});
  if (!doc || doc->documents.empty() || !doc->documents[0].root) return util::fail("object body is not JSON");
  std::vector<std::vector<std::string>> drops;
  for (const auto& p : pointers) {
    if (!p.starts_with('/')) continue;
    std::vector<std::string> tokens;
    std::size_t i = 1;
    while (i <= p.size()) {
      auto end = p.find('/', i);
      if (end == std::string::npos) end = p.size();
      std::string t;
      for (std::size_t k = i; k < end; ++k) {
        if (p[k] == '~' && k + 1 < end) {
          t += p[k + 1] == '1' ? '/' : '~';
          ++k;
        } else {
          t += p[k];
        }
      }
      tokens.push_back(std::move(t));
      i = end + 1;
    }
    drops.push_back(std::move(tokens));
  }
  std::string out;
  emit_without(out, *doc->documents[0].root, drops, 0, std::vector<bool>(drops.size(), true));
  return out;
}

}  // namespace portcullis::daemon
