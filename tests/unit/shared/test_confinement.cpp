#include <catch2/catch.hpp>

#include "shared/policy/confinement.hpp"

using namespace portcullis::policy;

namespace {

const Confinement k_dev{{"dev", "dev-*"}, {"Namespace"}, "portcullis-system"};
const Confinement k_everything{{"*"}, {"Namespace", "rbac.authorization.k8s.io/ClusterRole"}, "portcullis-system"};
const Confinement k_system{{"kube-system", "*"}, {"Namespace"}, "portcullis-system"};
const Confinement k_none{{}, {}, "portcullis-system"};

enum class Scope { namespaced, cluster };

}  // namespace

TEST_CASE("confinement_problem walks a table of objects", "[confinement]") {
  struct Case {
    const Confinement* confinement;
    const char* group;
    const char* kind;
    const char* ns;
    const char* name;
    Scope scope;
    const char* problem;  // a piece of the message; nullptr: allowed
  };
  const Case cases[] = {
      // namespaces: exact, glob, not listed
      {&k_dev, "apps", "Deployment", "dev", "web", Scope::namespaced, nullptr},
      {&k_dev, "apps", "Deployment", "dev-feature", "web", Scope::namespaced, nullptr},
      {&k_dev, "apps", "Deployment", "prod", "web", Scope::namespaced, "not among the allowed namespaces (dev, dev-*)"},
      {&k_dev, "", "ConfigMap", "develop", "c", Scope::namespaced, "add it to `namespaces`"},
      {&k_dev, "", "ConfigMap", "", "c", Scope::namespaced, "no namespace is named"},
      {&k_none, "", "ConfigMap", "dev", "c", Scope::namespaced, "allowed namespaces (none)"},
      // the inventory namespace: never, whatever is listed
      {&k_everything, "", "ConfigMap", "portcullis-system", "portcullis-inventory-prod", Scope::namespaced,
       "holds the inventories"},
      {&k_everything, "", "Namespace", "", "portcullis-system", Scope::cluster, "holds the inventories"},
      // reserved namespaces: a glob does not grant them, the exact name does
      {&k_everything, "", "ConfigMap", "kube-system", "c", Scope::namespaced, "is reserved"},
      {&k_everything, "", "ConfigMap", "kube-public", "c", Scope::namespaced, "is reserved"},
      {&k_everything, "coordination.k8s.io", "Lease", "kube-node-lease", "n", Scope::namespaced, "is reserved"},
      {&k_system, "", "ConfigMap", "kube-system", "c", Scope::namespaced, nullptr},
      {&k_system, "", "ConfigMap", "kube-public", "c", Scope::namespaced, "is reserved"},
      {&k_everything, "", "ConfigMap", "kube-systems", "c", Scope::namespaced, nullptr},
      // cluster-scoped kinds: listed exactly, by group
      {&k_dev, "rbac.authorization.k8s.io", "ClusterRoleBinding", "", "pwn", Scope::cluster,
       "cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is not among the allowed cluster kinds (Namespace)"},
      {&k_everything, "rbac.authorization.k8s.io", "ClusterRole", "", "reader", Scope::cluster, nullptr},
      {&k_everything, "", "ClusterRole", "", "reader", Scope::cluster, "add \"ClusterRole\" to `clusterKinds`"},
      {&k_everything, "example.com", "Namespace", "", "dev", Scope::cluster, "example.com/Namespace"},
      {&k_none, "", "Namespace", "", "dev", Scope::cluster, "allowed cluster kinds (none)"},
      // a Namespace object: only one named like an allowed namespace
      {&k_dev, "", "Namespace", "", "dev", Scope::cluster, nullptr},
      {&k_dev, "", "Namespace", "", "dev-x", Scope::cluster, nullptr},
      {&k_dev, "", "Namespace", "", "prod", Scope::cluster, "Namespace \"prod\": namespace \"prod\" is not among"},
      {&k_everything, "", "Namespace", "", "kube-system", Scope::cluster, "is reserved"},
      {&k_system, "", "Namespace", "", "kube-system", Scope::cluster, nullptr},
      // the message names the object
      {&k_dev, "apps", "Deployment", "prod", "web", Scope::namespaced, "apps/Deployment \"web\" in namespace \"prod\""},
  };
  for (const auto& c : cases) {
    INFO(c.kind << " " << c.ns << "/" << c.name);
    auto problem = confinement_problem(*c.confinement, c.group, c.kind, c.ns, c.name, c.scope == Scope::namespaced);
    if (c.problem == nullptr) {
      CHECK_FALSE(problem);
    } else {
      REQUIRE(problem);
      CHECK_THAT(*problem, Catch::Contains(c.problem));
    }
  }
}

TEST_CASE("an empty inventory namespace forbids nothing by itself", "[confinement]") {
  Confinement c{{"*"}, {}, ""};
  CHECK_FALSE(namespace_problem(c, "anything"));
  CHECK(namespace_problem(c, "kube-system"));
}

TEST_CASE("kind_key names the core group by kind alone", "[confinement]") {
  CHECK(kind_key("", "Namespace") == "Namespace");
  CHECK(kind_key("rbac.authorization.k8s.io", "ClusterRole") == "rbac.authorization.k8s.io/ClusterRole");
}
