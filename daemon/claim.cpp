#include "daemon/claim.hpp"

#include "daemon/desired.hpp"
#include "shared/yaml/parse.hpp"

namespace portcullis::daemon {

LiveClaim judge_claim(std::string_view target, std::string_view expected, std::string_view label,
                      std::string_view annotation) {
  LiveClaim out;
  out.claim = Claim::unowned;
  std::string_view annotated = annotation.substr(0, annotation.find('/'));
  if (!label.empty() && label != target) {
    out.claim = Claim::other_target;
    out.owner = std::string(label);
  } else if (!annotated.empty() && annotated != target) {
    out.claim = Claim::other_target;
    out.owner = std::string(annotated);
  } else if (annotation == expected) {
    out.claim = Claim::ours;
  }
  return out;
}

util::Result<LiveClaim> read_claim(kube::Client& client, const kube::Resource& resource, std::string_view target,
                                   std::string_view group, std::string_view kind, std::string_view ns,
                                   std::string_view name) {
  std::string path = resource.object_path(ns, name);
  auto res = client.get(path, kube::Client::k_accept_metadata);
  if (res && res->status == 406) res = client.get(path);
  if (!res) return util::fail(res.error());
  if (res->status == 404) return LiveClaim{};
  if (res->status != 200)
    return util::fail("reading who owns it answered HTTP " + std::to_string(res->status) + ": " +
                      res->body.substr(0, 300));
  auto doc = yaml::parse_json(res->body, yaml::Limits{256, 10'000'000, 10'000'000});
  const yaml::Node* meta =
      doc && !doc->documents.empty() && doc->documents[0].root ? doc->documents[0].root->get("metadata") : nullptr;
  if (!meta) return util::fail("reading who owns it: the answer has no metadata");
  const yaml::Node* labels = meta->get("labels");
  const yaml::Node* annotations = meta->get("annotations");
  LiveClaim out = judge_claim(target, owner_value(target, group, kind, ns, name),
                              labels ? labels->get_string(k_target_label) : std::string_view{},
                              annotations ? annotations->get_string(k_owner_annotation) : std::string_view{});
  out.resource_version = std::string(meta->get_string("resourceVersion"));
  return out;
}

std::optional<std::string> claim_problem(const LiveClaim& claim, std::string_view target, std::string_view what,
                                         bool adopt) {
  switch (claim.claim) {
    case Claim::absent:
    case Claim::ours: return std::nullopt;
    case Claim::other_target:
      return std::string(what) + ": owned by target \"" + claim.owner + "\" (its " + std::string(k_target_label) +
             " label or " + std::string(k_owner_annotation) + " annotation is on the live object); target \"" +
             std::string(target) + "\" never takes over another target's object: declare it in one environment only";
    case Claim::unowned:
      if (adopt) return std::nullopt;
      return std::string(what) + ": exists and was not created by target \"" + std::string(target) +
             "\" (no " + std::string(k_owner_annotation) + " annotation of it); delete it or leave it out of Git, or set "
             "adopt: true on the target to take it over";
  }
  return std::nullopt;
}

}  // namespace portcullis::daemon
