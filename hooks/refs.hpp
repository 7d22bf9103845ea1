#pragma once
// Ref rules: names git would refuse, protected refs (no deletion, forward only), release tags
// (created once), branches named like environments.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/report.hpp"
#include "hooks/update.hpp"

namespace portcullis::hooks {

// The longest ref name the gate accepts (git's own limit is the file system's: PATH_MAX).
inline constexpr std::size_t k_max_ref_name = 4096;

// Why git would refuse `ref` as the name of a ref it stores ("refs/" and
// `git check-ref-format` rules, at most k_max_ref_name bytes); nullopt when it is valid.
std::optional<std::string> ref_name_problem(std::string_view ref);

struct RefVerdict {
  std::vector<Finding> findings;  // rules ref.*; `ref` set
  bool stop = false;              // rejected outright, or nothing more to check (a deletion)
};

// The ref rules of one update, judged by the policy of the target before the push.
RefVerdict check_ref_rules(const git::Repository& repo, const Update& update);

}  // namespace portcullis::hooks
