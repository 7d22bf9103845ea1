#include "shared/yamledit/yamledit.hpp"

namespace portcullis::yamledit {

Step Step::of_key(std::string_view key) { return Step{Kind::key, std::string(key), 0, {}}; }
Step Step::at(std::size_t index) { return Step{Kind::index, {}, index, {}}; }
Step Step::where(std::string_view field, std::string_view value) {
  return Step{Kind::match, std::string(field), 0, std::string(value)};
}

Value Value::string(std::string_view text) { return Value{Type::string, std::string(text)}; }
Value Value::integer(std::int64_t number) { return Value{Type::integer, std::to_string(number)}; }
Value Value::boolean(bool value) { return Value{Type::boolean, value ? "true" : "false"}; }
Value Value::null() { return Value{Type::null, "null"}; }

util::Result<Path> parse_path(std::string_view) { return util::fail("not implemented", "yamledit.todo"); }
std::string format_path(const Path&) { return {}; }
util::Result<std::string> set_scalar(std::string_view, std::size_t, const Path&, const Value&, const Options&) {
  return util::fail("not implemented", "yamledit.todo");
}
util::Result<std::string> set(std::string_view, std::size_t, const Path&, const Value&, Create, const Options&) {
  return util::fail("not implemented", "yamledit.todo");
}
util::Result<std::string> remove_key(std::string_view, std::size_t, const Path&, const Options&) {
  return util::fail("not implemented", "yamledit.todo");
}
util::Result<std::string> replace_at(std::string_view, std::uint32_t, std::uint32_t, const Value&, const Options&) {
  return util::fail("not implemented", "yamledit.todo");
}
util::Result<std::vector<Scalar>> scalars(std::string_view) { return util::fail("not implemented", "yamledit.todo"); }

}  // namespace portcullis::yamledit
