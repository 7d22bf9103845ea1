#pragma once
// The follow-up of a break-glass window: a commit on branch `break-glass/<id>` of the config
// repository that makes Git match the live objects, editing the manifests in place
// (shared/yamledit: only the changed fields; comments and layout kept), pushed like any commit
// (through the gate, with git as a subprocess: argv, no shell), with a message that carries the
// incident reason. For a kustomize target the field is edited where it comes from: a patch of
// the environment that sets it, else the object's origin file, each edit checked by building
// the environment again; a field no edit can make come out right is refused with a note.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "shared/util/error.hpp"

namespace portcullis::daemon {

struct FollowUpObject {
  std::string what;  // "apps/v1 Deployment ns/name"
  std::string file;  // the file that declares it, relative to the target's directory
  std::string api_version, kind, name;
  std::vector<std::string> pointers;  // where live differs from Git (JSON pointers)
  std::string live;                   // the live object's JSON; "" when it was deleted
};

struct FollowUp {
  std::string branch, commit;       // commit "" when nothing could be edited
  std::vector<std::string> edited;  // repository paths changed
  std::vector<std::string> notes;   // what was refused, and why
};

// Edits `text` (a manifest file) so that the document declaring `object` carries the live
// values at `object.pointers`: scalars set (missing keys inserted), fields absent live removed.
// Collections, numbers with a fraction and deleted objects are not edited: each is a note.
// Returns the new text (== `text` when nothing was edited).
std::string edit_manifest(std::string_view text, const FollowUpObject& object, std::vector<std::string>& notes);

// Clones `repo` into a fresh directory under `work_dir`, branches `branch` at `revision`, edits
// the files of `objects` (`target`'s directory), commits as portcullisd with `message` and
// pushes the branch. Fails when git does (the clone, the commit or the push, e.g. refused by
// the gate); a follow-up with nothing to edit is no commit and no error.
util::Result<FollowUp> write_follow_up(const RepositoryConfig& repo, const TargetConfig& target, const std::string& revision,
                                       const std::string& branch, const std::string& message,
                                       const std::vector<FollowUpObject>& objects, const std::filesystem::path& work_dir);

}  // namespace portcullis::daemon
