#pragma once
// Our JSON Schemas compiled at build time into the validator's program format
// (schema::Program::from_bytes; one root: the schema itself), so that a hook run does not parse
// and compile them. Generated from the same files as embedded.hpp's texts.
#include <cstddef>
#include <span>

namespace portcullis::schemas {

std::span<const std::byte> policy_program();         // schemas/policy.schema.json
std::span<const std::byte> server_config_program();  // schemas/server-config.schema.json
std::span<const std::byte> daemon_program();         // schemas/daemon.schema.json

}  // namespace portcullis::schemas
