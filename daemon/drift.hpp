#pragma once
// Drift: where a live object differs from what a target applied, on the fields the target
// manages. The desired object must be a subset of the live one: fields the server adds
// (defaults, status, other managers' fields) are not drift; a managed field changed, removed
// or taken over is. Lists compare item by item; items appended after the desired ones are
// another manager's. Quantities compare by value ("0.5" and "500m" are equal, as the apiserver
// canonicalises them).
#include <string>
#include <string_view>
#include <vector>

#include "shared/util/error.hpp"
#include "shared/yaml/node.hpp"

namespace portcullis::daemon {

// The JSON pointers (RFC 6901) where `live` does not carry `desired`'s values, at most
// `limit` of them. Empty: no drift.
// A zero value in Git (false, 0, "") that the live object lacks is what the apiserver stores
// for it when the field is tagged omitempty: not drift while `manager`'s apply entry in the
// live managedFields still owns the field (someone who removes it takes it out of that
// entry). Without managedFields (or without `manager`) such a value is taken as stored.
std::vector<std::string> drift_between(const yaml::Node& desired, const yaml::Node& live, std::size_t limit = 20,
                                       std::string_view manager = {});

// `body` (JSON) without the values at `pointers` ("/spec/replicas"); pointers that name
// nothing are ignored. Used for ignore rules: what is ignored is neither compared nor applied.
util::Result<std::string> without_pointers(std::string_view body, const std::vector<std::string>& pointers);

// True when two quantity strings denote the same amount ("1000m" and "1", "0.5" and "500m").
bool same_quantity(std::string_view a, std::string_view b);

}  // namespace portcullis::daemon
