#pragma once
// The status page's model: one JSON document built from what /v1/targets shows (Service's
// TargetStatus), each target's recent syncs and objects (health, drift per object), the
// gate's recent decisions (the tail of its audit log) and recent break-glass uses. The page
// (daemon/status/*, embedded) renders it with textContent only: nothing from Git or the
// cluster is ever parsed as HTML. GET /v1/status answers it; GET /v1/events streams it.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/service.hpp"

namespace portcullis::daemon {

// The last lines (at most `max_lines`, whole lines only) of the last `max_bytes` of `path`;
// empty when it cannot be read (a missing log is not an error: nothing was decided yet).
std::vector<std::string> tail_lines(const std::filesystem::path& path, std::size_t max_bytes, std::size_t max_lines);

// `url_template` with {commit} replaced by `revision`, when `revision` is a commit id (hex)
// and the template is set; else "".
std::string commit_link(std::string_view url_template, std::string_view revision);

// The status document (compact JSON, no newline inside).
std::string status_document(const Service& service);

// The embedded page and its assets.
std::string_view status_html();
std::string_view status_css();
std::string_view status_js();

}  // namespace portcullis::daemon
