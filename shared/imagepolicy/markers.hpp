#pragma once
// Where image policies write: markers (a comment on the line of the scalar, as Flux's setters
// do) and kustomization `images:` entries; and the plan of edits that brings the files of a
// repository tree up to the chosen versions, made with shared/yamledit so that only those
// scalars change.
//
// Marker forms (docs/images.md), on the line of a scalar value, after it:
//   image: reg/app:1.2.3 # {"$imagepolicy": "ns:app"}        the whole reference
//   tag: 1.2.3           # {"$imagepolicy": "ns:app:tag"}    the tag (or tag@digest when pinned)
//   repository: reg/app  # {"$imagepolicy": "ns:app:name"}   the image name
//   digest: sha256:...   # {"$imagepolicy": "ns:app:digest"} the digest
//   image: reg/app:1.2.3 # portcullis:image app              Portcullis' own form; also app:tag,
//                                                            app:name, app:digest
// "ns:" is optional ("app", "app:tag"); when a policy sets a namespace, a Flux marker's must
// equal it. Kustomization files (kustomization.yaml, .yml, Kustomization) are targets without
// markers: an `images:` entry whose newName (or name when it has none) is a policy's image gets
// newTag, or digest when the policy pins digests (a marker on newTag/digest overrides).
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/imagepolicy/policy.hpp"
#include "shared/policy/policy.hpp"
#include "shared/util/error.hpp"

namespace portcullis::git {
class Repository;
struct Oid;
}  // namespace portcullis::git

namespace portcullis::imagepolicy {

enum class Field : std::uint8_t {
  reference,  // name:tag[@digest]
  tag,        // tag, or tag@digest when pinned
  name,       // image name
  digest,     // sha256:...
};

struct Marker {
  std::string policy;     // the policy's name
  std::string namespace_; // the marker's "ns:" part, "" when none
  Field field = Field::reference;
  std::size_t document = 0;
  std::uint32_t line = 0, column = 0;  // of the scalar it targets (1-based)
  std::string value;                   // the scalar's current value
  bool kustomization = false;          // an images: entry of a kustomization, found by name
  // Kustomization targets: the index of the entry in `images`; `line` 0 when its key (newTag
  // or digest) is missing and a plan inserts it.
  std::size_t entry = 0;
};

// The markers in one file (YAML text). A marker comment on a line without a scalar value, on a
// block scalar, or naming a malformed policy is a problem, not a marker: listed in `problems`
// ("file:line: why") so an author sees it. Never fails on content; YAML that does not parse
// gives no markers and one problem.
struct Found {
  std::vector<Marker> markers;
  std::vector<std::string> problems;
};
Found find_markers(std::string_view path, std::string_view text);

// The kustomization `images:` entries of `text` that name one of `policies`' images, as markers
// (kustomization = true; field tag or digest).
std::vector<Marker> kustomization_targets(std::string_view text, std::span<const Policy> policies);

// Read access to the files of a repository tree: a seam between plans and libgit2.
class FileSource {
 public:
  virtual ~FileSource() = default;
  // Every regular file at or below `dir` ("" is the root), repository paths, in a stable order.
  virtual util::Result<std::vector<std::string>> files(std::string_view dir) const = 0;
  virtual util::Result<std::string> read(std::string_view path) const = 0;
};
// The files of `tree` in `repo` (blobs up to `max_bytes`; larger ones fail to read).
std::unique_ptr<FileSource> git_source(const git::Repository& repo, const git::Oid& tree,
                                       std::uint64_t max_bytes = 1 << 20);
// Files held in memory (tests, the CLI's edits before they are committed).
std::unique_ptr<FileSource> memory_source(std::map<std::string, std::string> files);

// One value a plan changes.
struct Update {
  std::string policy;
  std::string image;      // the policy's image
  std::string old_value;  // the scalar before and after
  std::string new_value;
  std::uint32_t line = 0;
};

struct FileEdit {
  std::string path;  // repository path
  std::string old_text, new_text;
  std::vector<Update> updates;
};

struct Plan {
  std::vector<FileEdit> files;        // only files that change; empty when up to date
  std::vector<std::string> problems;  // markers that could not be applied, and why
  bool empty() const { return files.empty(); }
};

// The edits that give every target of `policies` under their environments (paths from
// `environments`; a policy naming an unknown environment is a problem) the value of its choice
// in `choices` (by policy name; a policy without a choice is left alone). Targets already up to
// date give nothing, so an up-to-date tree gives an empty plan (no empty commits). Fails when a
// file cannot be read; an edit yamledit refuses is a problem and leaves that file unchanged.
util::Result<Plan> plan(const FileSource& source, std::span<const policy::Environment> environments,
                        std::span<const Policy> policies, const std::map<std::string, Choice>& choices);

// The value `field` of a target gets for `choice` under `policy`.
std::string target_value(Field field, const Policy& policy, const Choice& choice);

// A commit message for `plan`: a subject naming the image(s) and new version(s), then one line
// per update "image: old -> new (policy NAME, path:line)".
std::string commit_message(const Plan& plan);

}  // namespace portcullis::imagepolicy
