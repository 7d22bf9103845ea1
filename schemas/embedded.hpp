#pragma once
// The JSON Schemas of Portcullis' own files, compiled into the binaries so the hook never
// depends on files beside it.
#include <string_view>

namespace portcullis::schemas {

std::string_view policy_schema();         // schemas/policy.schema.json
std::string_view server_config_schema();  // schemas/server-config.schema.json
std::string_view daemon_schema();         // schemas/daemon.schema.json

}  // namespace portcullis::schemas
