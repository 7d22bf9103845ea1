#include <catch2/catch.hpp>

#include <string>

#include "daemon/health.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

TEST_CASE("health_of: per kind, from the status controllers write", "[health]") {
  struct Case {
    const char* name;
    const char* object;
    HealthStatus status;
    const char* reason;  // a part of it
  };
  const Case cases[] = {
      {"Deployment rolled out",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generation":2},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"updatedReplicas":2,"availableReplicas":2}})",
       HealthStatus::healthy, ""},
      {"Deployment not observed yet",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generation":3},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"updatedReplicas":2,"availableReplicas":2}})",
       HealthStatus::progressing, "not been observed"},
      {"Deployment rolling",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generation":1},"spec":{"replicas":3},
           "status":{"observedGeneration":1,"updatedReplicas":1,"availableReplicas":1}})",
       HealthStatus::progressing, "1 of 3 replicas updated"},
      {"Deployment waiting for availability",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generation":1},"spec":{"replicas":3},
           "status":{"observedGeneration":1,"updatedReplicas":3,"availableReplicas":2}})",
       HealthStatus::progressing, "2 of 3 replicas available"},
      {"Deployment past its progress deadline",
       R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generation":1},"spec":{"replicas":1},
           "status":{"observedGeneration":1,"conditions":[{"type":"Progressing","status":"False",
           "reason":"ProgressDeadlineExceeded","message":"ReplicaSet \"web-1\" has timed out progressing."}]}})",
       HealthStatus::degraded, "ProgressDeadlineExceeded: ReplicaSet"},
      {"Deployment with a replica failure",
       R"({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":1},
           "status":{"conditions":[{"type":"ReplicaFailure","status":"True","reason":"FailedCreate"}]}})",
       HealthStatus::degraded, "FailedCreate"},
      {"Deployment scaled to zero", R"({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":0},"status":{}})",
       HealthStatus::healthy, ""},
      {"StatefulSet new revision",
       R"({"apiVersion":"apps/v1","kind":"StatefulSet","spec":{"replicas":1},
           "status":{"updateRevision":"b","currentRevision":"a","readyReplicas":1}})",
       HealthStatus::progressing, "rolling out"},
      {"StatefulSet ready",
       R"({"apiVersion":"apps/v1","kind":"StatefulSet","spec":{"replicas":2},
           "status":{"updateRevision":"a","currentRevision":"a","readyReplicas":2}})",
       HealthStatus::healthy, ""},
      {"DaemonSet rolling",
       R"({"apiVersion":"apps/v1","kind":"DaemonSet","status":{"desiredNumberScheduled":3,"updatedNumberScheduled":3,"numberAvailable":1}})",
       HealthStatus::progressing, "1 of 3 pods available"},
      {"Job running", R"({"apiVersion":"batch/v1","kind":"Job","status":{"active":1}})", HealthStatus::progressing,
       "not completed"},
      {"Job complete",
       R"({"apiVersion":"batch/v1","kind":"Job","status":{"conditions":[{"type":"Complete","status":"True"}]}})",
       HealthStatus::healthy, ""},
      {"Job failed",
       R"({"apiVersion":"batch/v1","kind":"Job","status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded"}]}})",
       HealthStatus::degraded, "BackoffLimitExceeded"},
      {"CRD established",
       R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","status":{"conditions":[{"type":"Established","status":"True"}]}})",
       HealthStatus::healthy, ""},
      {"CRD not established", R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","status":{}})",
       HealthStatus::progressing, "Established"},
      {"Namespace active", R"({"apiVersion":"v1","kind":"Namespace","status":{"phase":"Active"}})", HealthStatus::healthy, ""},
      {"Namespace terminating", R"({"apiVersion":"v1","kind":"Namespace","status":{"phase":"Terminating"}})",
       HealthStatus::progressing, "Terminating"},
      {"PVC bound", R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","status":{"phase":"Bound"}})", HealthStatus::healthy, ""},
      {"PVC pending", R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","status":{"phase":"Pending"}})",
       HealthStatus::progressing, "Pending"},
      {"PVC lost", R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","status":{"phase":"Lost"}})", HealthStatus::degraded,
       "lost"},
      {"generic Ready=False",
       R"({"apiVersion":"example.com/v1","kind":"Backup","status":{"conditions":[{"type":"Ready","status":"False","reason":"NoBucket"}]}})",
       HealthStatus::degraded, "Ready is False: NoBucket"},
      {"generic Available=True",
       R"({"apiVersion":"example.com/v1","kind":"Thing","status":{"conditions":[{"type":"Available","status":"True"}]}})",
       HealthStatus::healthy, ""},
      {"generic Ready=Unknown",
       R"({"apiVersion":"example.com/v1","kind":"Thing","status":{"conditions":[{"type":"Ready","status":"Unknown"}]}})",
       HealthStatus::progressing, "Unknown"},
      {"no status at all", R"({"apiVersion":"v1","kind":"ConfigMap","data":{}})", HealthStatus::healthy, ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto doc = yaml::parse_json(c.object);
    REQUIRE(doc);
    Health h = health_of(*doc->documents[0].root);
    CHECK(health_name(h.status) == health_name(c.status));
    CHECK_THAT(h.reason, Catch::Contains(c.reason));
  }
}

TEST_CASE("health_of: list items name no kind; it is given", "[health]") {
  auto doc = yaml::parse_json(R"({"spec":{"replicas":1},"status":{"updatedReplicas":0}})");
  REQUIRE(doc);
  CHECK(health_of(*doc->documents[0].root).status == HealthStatus::healthy);
  CHECK(health_of(*doc->documents[0].root, "apps/v1", "Deployment").status == HealthStatus::progressing);
}

TEST_CASE("worse: the target is as healthy as its worst object", "[health]") {
  Health ok{HealthStatus::healthy, ""}, prog{HealthStatus::progressing, "p"}, bad{HealthStatus::degraded, "d"},
      gone{HealthStatus::missing, "m"};
  CHECK(worse(ok, prog).reason == "p");
  CHECK(worse(bad, prog).reason == "d");
  CHECK(worse(prog, gone).reason == "m");
  CHECK(worse(gone, bad).reason == "d");
}
