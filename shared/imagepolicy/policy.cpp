#include "shared/imagepolicy/policy.hpp"

namespace portcullis::imagepolicy {

std::string Choice::reference(const Policy& policy) const { return policy.image + ":" + tag; }
bool is_valid_tag(std::string_view) { return false; }
bool is_valid_digest(std::string_view) { return false; }
std::optional<Choice> choose(const Policy&, std::span<const Candidate>) { return std::nullopt; }
util::Result<std::vector<Policy>> parse_policies(const yaml::Node&, std::string_view) { return {}; }
util::Result<std::vector<Policy>> parse_policies(std::string_view, std::string_view) { return {}; }
const Policy* find_policy(std::span<const Policy>, std::string_view) { return nullptr; }

}  // namespace portcullis::imagepolicy
