#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/drift.hpp"
#include "shared/yaml/parse.hpp"

using namespace portcullis;
using namespace portcullis::daemon;

namespace {

std::vector<std::string> drift(const std::string& desired, const std::string& live) {
  auto d = yaml::parse_json(desired);
  auto l = yaml::parse_json(live);
  REQUIRE(d);
  REQUIRE(l);
  return drift_between(*d->documents[0].root, *l->documents[0].root);
}

std::vector<std::string> drift_as(const std::string& manager, const std::string& desired, const std::string& live) {
  auto d = yaml::parse_json(desired);
  auto l = yaml::parse_json(live);
  REQUIRE(d);
  REQUIRE(l);
  return drift_between(*d->documents[0].root, *l->documents[0].root, 20, manager);
}

// A live object with managedFields: one Apply entry of `manager` owning `fields` (fieldsV1 JSON).
std::string with_fields(const std::string& manager, const std::string& fields, const std::string& rest) {
  return R"({"metadata":{"managedFields":[{"manager":")" + manager + R"(","operation":"Apply","fieldsV1":)" + fields +
         "}]}," + rest + "}";
}

}  // namespace

TEST_CASE("drift_between: what Git manages against what the apiserver holds", "[drift]") {
  struct Case {
    const char* name;
    const char* desired;
    const char* live;
    std::vector<std::string> pointers;
  };
  const Case cases[] = {
      {"identical", R"({"spec":{"replicas":2}})", R"({"spec":{"replicas":2}})", {}},
      {"server defaults and status are not drift", R"({"spec":{"replicas":2}})",
       R"({"spec":{"replicas":2,"strategy":{"type":"RollingUpdate"}},"status":{"replicas":0}})", {}},
      {"kubectl scale", R"({"spec":{"replicas":2}})", R"({"spec":{"replicas":5}})", {"/spec/replicas"}},
      {"a removed managed field", R"({"data":{"a":"1","b":"2"}})", R"({"data":{"a":"1"}})", {"/data/b"}},
      {"an edited value", R"({"data":{"key":"value"}})", R"({"data":{"key":"edited"}})", {"/data/key"}},
      {"a removed label", R"({"metadata":{"labels":{"portcullis.io/target":"prod","app":"web"}}})",
       R"({"metadata":{"labels":{"app":"web"},"uid":"u"}})", {"/metadata/labels/portcullis.io~1target"}},
      {"list items live adds after ours are another manager's",
       R"({"spec":{"containers":[{"name":"web","image":"a:1"}]}})",
       R"({"spec":{"containers":[{"name":"web","image":"a:1","imagePullPolicy":"IfNotPresent"},{"name":"sidecar"}]}})", {}},
      {"set image inside a list", R"({"spec":{"containers":[{"name":"web","image":"a:1"}]}})",
       R"({"spec":{"containers":[{"name":"web","image":"a:2"}]}})", {"/spec/containers/0/image"}},
      {"a shorter list", R"({"ports":[1,2]})", R"({"ports":[1]})", {"/ports"}},
      {"quantities compare by value", R"({"cpu":"0.5","mem":"1Gi","n":"1000m"})", R"({"cpu":"500m","mem":"1024Mi","n":"1"})", {}},
      {"a number written where the server keeps a quantity string", R"({"cpu":1})", R"({"cpu":"1"})", {}},
      {"different quantities", R"({"cpu":"1"})", R"({"cpu":"2"})", {"/cpu"}},
      {"empty values the server drops", R"({"a":{},"b":[],"c":null})", R"({})", {}},
      {"a type change", R"({"a":{"b":1}})", R"({"a":"x"})", {"/a"}},
      {"booleans", R"({"a":true})", R"({"a":false})", {"/a"}},
      {"apiVersion and kind are not compared (list items omit them)", R"({"apiVersion":"v1","kind":"ConfigMap","data":{"k":"v"}})",
       R"({"data":{"k":"v"}})", {}},
      {"several, in order", R"({"a":1,"b":{"c":2},"d":3})", R"({"a":9,"b":{"c":8},"d":3})", {"/a", "/b/c"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(drift(c.desired, c.live) == c.pointers);
  }
}

TEST_CASE("drift_between: zero values the apiserver omits are not drift while the target owns them", "[drift]") {
  const std::string m = "portcullis-prod";
  struct Case {
    const char* name;
    const char* desired;
    std::string live;
    std::vector<std::string> pointers;
  };
  const std::string pod_fields =
      R"({"f:spec":{"f:hostNetwork":{},"f:minReadySeconds":{},"f:paused":{},)"
      R"("f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:name":{},"f:image":{},"f:tty":{},)"
      R"("f:env":{"k:{\"name\":\"EMPTY\"}":{".":{},"f:name":{},"f:value":{}}},)"
      R"("f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:hostPort":{}}}}},)"
      R"("f:args":{},"f:securityContext":{"f:runAsUser":{}}}})";
  const Case cases[] = {
      {"false, 0 and \"\" owned and omitted",
       R"({"spec":{"hostNetwork":false,"minReadySeconds":0,"paused":false}})",
       with_fields(m, pod_fields, R"("spec":{})"), {}},
      {"zero values inside keyed list items (env value \"\", hostPort 0, tty false)",
       R"({"spec":{"containers":[{"name":"web","image":"a:1","tty":false,"env":[{"name":"EMPTY","value":""}],"ports":[{"containerPort":80,"hostPort":0}]}]}})",
       with_fields(m, pod_fields,
                   R"("spec":{"containers":[{"name":"web","image":"a:1","env":[{"name":"EMPTY"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}]})"),
       {}},
      {"a zero value someone removed (no longer in the target's entry) is drift",
       R"({"spec":{"hostNetwork":false,"shareProcessNamespace":false}})",
       with_fields(m, pod_fields, R"("spec":{})"), {"/spec/shareProcessNamespace"}},
      {"a zero pointer value removed: runAsUser 0 gone is drift when the entry lost it",
       R"({"spec":{"securityContext":{"runAsUser":0,"runAsGroup":0}}})",
       with_fields(m, pod_fields, R"("spec":{"securityContext":{}})"), {"/spec/securityContext/runAsGroup"}},
      {"another manager's entry does not count",
       R"({"spec":{"hostNetwork":false}})", with_fields("kubectl-edit", pod_fields, R"("spec":{})"), {"/spec/hostNetwork"}},
      {"a non-zero value absent is drift even when owned", R"({"spec":{"minReadySeconds":5}})",
       with_fields(m, pod_fields, R"("spec":{})"), {"/spec/minReadySeconds"}},
      {"an item of an atomic list owned whole", R"({"spec":{"args":[""]}})",
       with_fields(m, pod_fields, R"("spec":{"args":[""]})"), {}},
      {"a mapping of zero values omitted whole", R"({"spec":{"securityContext":{"runAsUser":0}}})",
       with_fields(m, pod_fields, R"("spec":{})"), {}},
      {"an item the key does not match is not owned", R"({"spec":{"containers":[{"name":"db","tty":false}]}})",
       with_fields(m, pod_fields, R"("spec":{"containers":[{"name":"db"}]})"), {"/spec/containers/0/tty"}},
      {"no managedFields at all: zero values taken as stored", R"({"spec":{"hostNetwork":false,"replicas":0}})",
       R"({"spec":{}})", {}},
      {"\"\" the apiserver defaulted (schedulerName) while the target owns it",
       R"({"spec":{"schedulerName":""}})",
       with_fields(m, R"({"f:spec":{"f:schedulerName":{}}})", R"("spec":{"schedulerName":"default-scheduler"})"), {}},
      {"\"\" set to a value by someone who took the field", R"({"spec":{"schedulerName":""}})",
       with_fields(m, R"({"f:spec":{"f:replicas":{}}})", R"("spec":{"schedulerName":"other"})"), {"/spec/schedulerName"}},
      {"0 changed while owned (the scale subresource keeps ownership) is drift", R"({"spec":{"replicas":0}})",
       with_fields(m, R"({"f:spec":{"f:replicas":{}}})", R"("spec":{"replicas":3})"), {"/spec/replicas"}},
      {"without managedFields a changed \"\" is drift", R"({"spec":{"schedulerName":""}})",
       R"({"spec":{"schedulerName":"x"}})", {"/spec/schedulerName"}},
      {"the shared manager of old counts until released", R"({"spec":{"hostNetwork":false}})",
       with_fields("portcullis", pod_fields, R"("spec":{})"), {}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(drift_as(m, c.desired, c.live) == c.pointers);
  }
}

TEST_CASE("drift_between: stops at the limit", "[drift]") {
  std::string desired = "{", live = "{";
  for (int i = 0; i < 50; ++i) {
    desired += std::string(i ? "," : "") + "\"k" + std::to_string(i) + "\":1";
    live += std::string(i ? "," : "") + "\"k" + std::to_string(i) + "\":2";
  }
  desired += "}";
  live += "}";
  CHECK(drift(desired, live).size() == 20);
}

TEST_CASE("without_pointers: ignored fields leave what is compared and applied", "[drift]") {
  struct Case {
    const char* name;
    const char* body;
    std::vector<std::string> pointers;
    const char* expected;
  };
  const Case cases[] = {
      {"replicas", R"({"spec":{"replicas":3,"paused":false}})", {"/spec/replicas"}, R"({"spec":{"paused":false}})"},
      {"escaped tokens", R"({"metadata":{"annotations":{"a/b":"1","c~d":"2","e":"3"}}})",
       {"/metadata/annotations/a~1b", "/metadata/annotations/c~0d"}, R"({"metadata":{"annotations":{"e":"3"}}})"},
      {"a list item", R"({"items":[1,2,3]})", {"/items/1"}, R"({"items":[1,3]})"},
      {"a pointer to nothing", R"({"a":1})", {"/b/c", "/a/x"}, R"({"a":1})"},
      {"not a pointer", R"({"a":1})", {"a"}, R"({"a":1})"},
      {"nothing", R"({"a":{"b":[true,null,"x"]}})", {}, R"({"a":{"b":[true,null,"x"]}})"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto out = without_pointers(c.body, c.pointers);
    REQUIRE(out);
    CHECK(*out == c.expected);
  }
  CHECK_FALSE(without_pointers("not json", {"/a"}));
}

TEST_CASE("same_quantity", "[drift]") {
  struct Case {
    const char* a;
    const char* b;
    bool same;
  };
  const Case cases[] = {
      {"1", "1000m", true},   {"0.5", "500m", true},  {"1Ki", "1024", true}, {"1Gi", "1024Mi", true},
      {"1e3", "1k", true},    {"1", "2", false},      {"1Mi", "1M", false},  {"abc", "abc", true},
      {"abc", "abd", false},  {"", "0", false},       {"1x", "1", false},    {"-1", "-1000m", true},
  };
  for (const auto& c : cases) {
    INFO(c.a << " vs " << c.b);
    CHECK(same_quantity(c.a, c.b) == c.same);
  }
}
