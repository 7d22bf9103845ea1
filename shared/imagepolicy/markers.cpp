#include "shared/imagepolicy/markers.hpp"

#include "shared/git/repository.hpp"

namespace portcullis::imagepolicy {

Found find_markers(std::string_view, std::string_view) { return {}; }
std::vector<Marker> kustomization_targets(std::string_view, std::span<const Policy>) { return {}; }
std::unique_ptr<FileSource> git_source(const git::Repository&, const git::Oid&, std::uint64_t) { return nullptr; }
std::unique_ptr<FileSource> memory_source(std::map<std::string, std::string>) { return nullptr; }
util::Result<Plan> plan(const FileSource&, std::span<const policy::Environment>, std::span<const Policy>,
                        const std::map<std::string, Choice>&) {
  return Plan{};
}
std::string target_value(Field, const Policy&, const Choice&) { return {}; }
std::string commit_message(const Plan&) { return {}; }

}  // namespace portcullis::imagepolicy
