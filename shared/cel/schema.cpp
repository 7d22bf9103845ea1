// x-kubernetes-validations: the schema tree compiled once per CRD version, and the walk of a
// custom resource that evaluates each node's rules with `self` bound to the node's value,
// as apiextensions-apiserver's pkg/apiserver/schema/cel/validation.go does.
#include "shared/cel/schema.hpp"

#include <algorithm>

#include "shared/cel/library.hpp"

namespace portcullis::cel {

const Schema* Schema::property(std::string_view name) const {
  auto it = std::lower_bound(properties.begin(), properties.end(), name,
                             [](const auto& p, std::string_view n) { return p.first < n; });
  return it != properties.end() && it->first == name ? it->second.get() : nullptr;
}

std::string_view Schema::type_name() const {
  switch (type) {
    case SchemaType::object: return "object";
    case SchemaType::array: return "array";
    case SchemaType::string: return "string";
    case SchemaType::integer: return "integer";
    case SchemaType::number: return "number";
    case SchemaType::boolean: return "boolean";
    default: return "";
  }
}

namespace {

constexpr int k_max_schema_depth = 64;

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 512)) out += c == '"' ? std::string("\\\"") : std::string(1, c);
  return out + (s.size() > 512 ? "...\"" : "\"");
}

class SchemaCompiler {
 public:
  SchemaCompiler(const RuleFeatures& features, std::vector<SchemaProblem>& problems)
      : m_features(features), m_problems(problems) {}

  std::unique_ptr<Schema> build(const yaml::Node& s, const std::string& path, int depth) {
    auto out = std::make_unique<Schema>();
    if (!s.is_mapping() || depth > k_max_schema_depth) return out;
    std::string_view type = s.get_string("type");
    out->type = type == "object"    ? SchemaType::object
                : type == "array"   ? SchemaType::array
                : type == "string"  ? SchemaType::string
                : type == "integer" ? SchemaType::integer
                : type == "number"  ? SchemaType::number
                : type == "boolean" ? SchemaType::boolean
                                    : SchemaType::any;
    if (const yaml::Node* ios = s.get("x-kubernetes-int-or-string");
        ios && ios->type == yaml::Type::boolean && ios->value.boolean)
      out->type = SchemaType::int_or_string;
    out->format = std::string(s.get_string("format"));
    std::string_view list_type = s.get_string("x-kubernetes-list-type");
    out->list_type = list_type == "set"   ? Schema::ListType::set
                     : list_type == "map" ? Schema::ListType::map
                                          : Schema::ListType::atomic;
    if (const yaml::Node* keys = s.get("x-kubernetes-list-map-keys"); keys && keys->is_sequence())
      for (const yaml::Node* k : keys->items)
        if (k->is_string()) out->map_keys.emplace_back(k->text);
    if (const yaml::Node* p = s.get("x-kubernetes-preserve-unknown-fields");
        p && p->type == yaml::Type::boolean)
      out->preserve_unknown = p->value.boolean;
    if (const yaml::Node* props = s.get("properties"); props && props->is_mapping()) {
      for (const auto& e : props->entries) {
        auto child = build(*e.value, path + ".properties[" + std::string(e.key->text) + "]", depth + 1);
        out->rules_below = out->rules_below || child->rules_below;
        out->properties.emplace_back(std::string(e.key->text), std::move(child));
      }
      std::sort(out->properties.begin(), out->properties.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    if (const yaml::Node* items = s.get("items"); items && items->is_mapping()) {
      out->items = build(*items, path + ".items", depth + 1);
      out->rules_below = out->rules_below || out->items->rules_below;
    }
    if (const yaml::Node* add = s.get("additionalProperties"); add && add->is_mapping()) {
      out->additional = build(*add, path + ".additionalProperties", depth + 1);
      out->rules_below = out->rules_below || out->additional->rules_below;
    }
    if (const yaml::Node* d = s.get("default"); d && d->type != yaml::Type::null)
      out->default_value = Value::owned_from_node(d, out.get());
    if (const yaml::Node* rules = s.get("x-kubernetes-validations"); rules && rules->is_sequence())
      for (std::size_t i = 0; i < rules->items.size(); ++i)
        rule(*out, *rules->items[i], path + ".x-kubernetes-validations[" + std::to_string(i) + "]");
    out->rules_below = out->rules_below || !out->rules.empty();
    return out;
  }

 private:
  void problem(const std::string& path, std::string message, const yaml::Node* at) {
    m_problems.push_back(SchemaProblem{path, std::move(message), at});
  }

  void rule(Schema& schema, const yaml::Node& r, const std::string& path) {
    if (!r.is_mapping()) return;
    CompiledRule out;
    const yaml::Node* text = r.get("rule");
    if (!text || !text->is_string() || text->text.empty()) {
      problem(path + ".rule", "Required value: rule is not specified", text ? text : &r);
      return;
    }
    out.rule = std::string(text->text);
    out.message = std::string(r.get_string("message"));
    static const std::vector<std::string> k_vars = {"self", "oldSelf"};
    auto program = compile(out.rule, k_vars);
    if (!program && program.error().message.find(k_unsupported_syntax) != std::string::npos)
      return;  // not judged
    if (!program) {
      problem(path + ".rule",
              "Invalid value: " + quoted(out.rule) +
                  ": compilation failed: ERROR: <input>:1:" + program.error().message,
              text);
      return;
    }
    out.program = std::move(*program);
    out.transition = out.program->uses("oldSelf");
    if (const yaml::Node* me = r.get("messageExpression");
        me && me->is_string() && !me->text.empty() && m_features.message_expression) {
      auto m = compile(me->text, k_vars);
      if (!m && m.error().message.find(k_unsupported_syntax) != std::string::npos) {
        schema.rules.push_back(std::move(out));  // the rule is judged, its message is the static one
        return;
      }
      if (!m) {
        problem(path + ".messageExpression",
                "Invalid value: " + quoted(me->text) +
                    ": messageExpression compilation failed: ERROR: <input>:1:" + m.error().message,
                me);
        return;
      }
      out.message_expression = std::move(*m);
    }
    if (m_features.reason_and_field_path) {
      out.reason = std::string(r.get_string("reason"));
      static constexpr std::string_view k_reasons[] = {"FieldValueInvalid", "FieldValueForbidden",
                                                       "FieldValueRequired", "FieldValueDuplicate"};
      if (!out.reason.empty() &&
          std::find(std::begin(k_reasons), std::end(k_reasons), out.reason) == std::end(k_reasons)) {
        problem(path + ".reason",
                "Unsupported value: " + quoted(out.reason) +
                    ": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", "
                    "\"FieldValueInvalid\", \"FieldValueRequired\"",
                r.get("reason"));
        return;
      }
      out.field_path = std::string(r.get_string("fieldPath"));
    }
    schema.rules.push_back(std::move(out));
  }

  const RuleFeatures& m_features;
  std::vector<SchemaProblem>& m_problems;
};

// The field path frames of the walk; rendered only for findings.
struct Frame {
  const Frame* parent;
  std::string_view key;
  std::int64_t index;  // >= 0: a list item; -2: a map entry `key`
  std::string str() const {
    std::string out = parent ? parent->str() : "";
    if (index >= 0) return out + "[" + std::to_string(index) + "]";
    if (index == -2) return out + "[" + std::string(key) + "]";
    if (key.empty()) return out;
    return out.empty() ? std::string(key) : out + "." + std::string(key);
  }
};

// "spec" + ".a['b'].c" -> "spec.a[b].c"
std::string join_field_path(std::string base, std::string_view rel) {
  std::string out = std::move(base);
  for (std::size_t i = 0; i < rel.size(); ++i) {
    if (rel.substr(i, 2) == "['") {
      auto end = rel.find("']", i + 2);
      if (end == std::string_view::npos) break;
      out += "[" + std::string(rel.substr(i + 2, end - i - 2)) + "]";
      i = end + 1;
    } else if (rel[i] == '.') {
      if (!out.empty()) out += '.';
    } else {
      out += rel[i];
    }
  }
  return out;
}

class Walker {
 public:
  Walker(const Budget& budget, std::vector<Violation>& out)
      : m_budget(budget), m_remaining(budget.total), m_out(out) {}

  void walk(const Schema& s, const yaml::Node* node, const Frame& at) {
    if (m_stopped || !s.rules_below || !node || node->type == yaml::Type::null) return;
    for (const auto& r : s.rules) {
      if (m_stopped) return;
      if (!r.transition) run(s, r, node, at);
    }
    if (node->is_mapping()) {
      for (const auto& e : node->entries) {
        const Schema* child = s.property(e.key->text);
        if (child)
          walk(*child, e.value, Frame{&at, e.key->text, -1});
        else if (s.additional)
          walk(*s.additional, e.value, Frame{&at, e.key->text, -2});
      }
    } else if (node->is_sequence() && s.items) {
      for (std::size_t i = 0; i < node->items.size(); ++i)
        walk(*s.items, node->items[i], Frame{&at, {}, static_cast<std::int64_t>(i)});
    }
  }

 private:
  void report(const Schema& s, const CompiledRule& r, const yaml::Node* node, const Frame& at,
              std::string detail) {
    std::string path = r.field_path.empty() ? at.str() : join_field_path(at.str(), r.field_path);
    std::string shown =
        quoted(s.type_name().empty() ? std::string_view(yaml::type_name(node->type)) : s.type_name());
    std::string message = r.reason == "FieldValueForbidden"   ? "Forbidden: " + detail
                          : r.reason == "FieldValueRequired"  ? "Required value: " + detail
                          : r.reason == "FieldValueDuplicate" ? "Duplicate value: " + shown + ": " + detail
                                                              : "Invalid value: " + shown + ": " + detail;
    m_out.push_back(Violation{std::move(path), std::move(message), node});
  }

  void run(const Schema& s, const CompiledRule& r, const yaml::Node* node, const Frame& at) {
    std::vector<Binding> self{{"self", Value::from_node(node, &s)}};
    std::uint64_t limit = std::min(m_budget.per_call, m_remaining);
    Outcome o = evaluate(*r.program, self, limit);
    m_remaining -= std::min(m_remaining, o.cost);
    if (o.exceeded) {
      if (m_remaining == 0) {
        report(
            s, r, node, at,
            "validation failed due to running out of cost budget, no further validation rules will be run");
        m_stopped = true;
      } else {
        report(s, r, node, at, "call cost exceeds limit for rule: " + r.rule);
      }
      return;
    }
    if (o.value.is_error()) {
      if (o.value.str().starts_with(library::k_unsupported_prefix)) return;  // not judged here
      report(s, r, node, at, o.value.str() + " evaluating rule: " + r.rule);
      return;
    }
    if (o.value.kind() != Kind::boolean) {
      report(s, r, node, at, "rule did not evaluate to a bool: " + r.rule);
      return;
    }
    if (o.value.as_bool()) return;
    report(s, r, node, at, message_of(r, self));
  }

  std::string message_of(const CompiledRule& r, const std::vector<Binding>& self) {
    if (r.message_expression) {
      Outcome m = evaluate(*r.message_expression, self, std::min(m_budget.per_call, m_remaining));
      m_remaining -= std::min(m_remaining, m.cost);
      if (m.value.kind() == Kind::string && !m.value.str().empty() &&
          m.value.str().find('\n') == std::string::npos && m.value.str().size() <= 5120)
        return m.value.str();
    }
    return r.message.empty() ? "failed rule: " + r.rule : r.message;
  }

  const Budget& m_budget;
  std::uint64_t m_remaining;
  bool m_stopped = false;
  std::vector<Violation>& m_out;
};

}  // namespace

RuleFeatures rule_features(int major, int minor) {
  auto at_least = [&](int m) { return major > 1 || (major == 1 && minor >= m); };
  return RuleFeatures{at_least(27), at_least(28), at_least(29)};
}

std::unique_ptr<Schema> compile_schema(const yaml::Node& schema, std::string_view path,
                                       const RuleFeatures& features, std::vector<SchemaProblem>& problems) {
  SchemaCompiler compiler(features, problems);
  auto root = compiler.build(schema, std::string(path), 0);
  if (!root->rules_below) return nullptr;
  return root;
}

void validate(const Schema& root, const yaml::Node& object, const Budget& budget,
              std::vector<Violation>& out) {
  Walker walker(budget, out);
  walker.walk(root, &object, Frame{nullptr, {}, -1});
}

}  // namespace portcullis::cel
