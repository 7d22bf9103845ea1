#include "shared/imagepolicy/semver.hpp"

namespace portcullis::imagepolicy {

std::strong_ordering Version::operator<=>(const Version&) const { return std::strong_ordering::equal; }
std::string Version::str() const { return {}; }
std::optional<Version> parse_version(std::string_view) { return std::nullopt; }
util::Result<Range> Range::parse(std::string_view) { return util::fail("not implemented", "imagepolicy.invalid"); }
bool Range::contains(const Version&, bool) const { return false; }

}  // namespace portcullis::imagepolicy
