#pragma once
// Schema inputs shared by the tests: a miniature apiserver OpenAPI document, a CRD, and the
// schema store imported from an OpenAPI document.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "shared/schema/store.hpp"

namespace portcullis::test {

// A miniature OpenAPI v2 document shaped like the apiserver's: namespaced ConfigMap, Secret
// and Deployment, cluster-scoped Namespace, and ObjectMeta (used for custom resources).
inline constexpr const char* k_apiserver_openapi = R"({
  "swagger": "2.0",
  "paths": {
    "/api/v1/namespaces/{namespace}/configmaps": {
      "post": {"x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "ConfigMap"}}
    },
    "/api/v1/namespaces/{namespace}/secrets": {
      "post": {"x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Secret"}}
    },
    "/apis/apps/v1/namespaces/{namespace}/deployments": {
      "post": {"x-kubernetes-group-version-kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}
    },
    "/api/v1/namespaces": {
      "post": {"x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Namespace"}}
    }
  },
  "definitions": {
    "io.k8s.api.core.v1.ConfigMap": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "data": {"type": "object", "additionalProperties": {"type": "string"}}
      },
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]
    },
    "io.k8s.api.core.v1.Secret": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
        "stringData": {"type": "object", "additionalProperties": {"type": "string"}},
        "type": {"type": "string"}
      },
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Secret", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.Deployment": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      "type": "object",
      "properties": {
        "replicas": {"type": "integer", "format": "int32"},
        "selector": {"type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "template": {"type": "object", "properties": {
          "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
          "spec": {"type": "object", "properties": {
          "containers": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}}}}}}
      }
    },
    "io.k8s.api.core.v1.Container": {
      "type": "object",
      "required": ["name"],
      "properties": {"name": {"type": "string"}, "image": {"type": "string"}}
    },
    "io.k8s.api.core.v1.Namespace": {
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
      },
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Namespace", "version": "v1"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      "type": "object",
      "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                     "labels": {"type": "object", "additionalProperties": {"type": "string"}}}
    }
  }
})";

// A v1 CRD: namespaced example.com/v1 Widget whose spec.size is an integer.
inline const std::string k_widget_crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
)";

struct ImportedStore {
  schema::ImportSummary summary;
  schema::Program program;
};

// Imports the OpenAPI v2 document `openapi` into a store at `dir` and maps it; REQUIREs both
// steps (two assertions).
inline ImportedStore import_store(std::string_view openapi, const std::filesystem::path& dir) {
  auto summary = schema::import_openapi_v2(openapi, dir);
  INFO((summary ? std::string() : summary.error().describe()));
  REQUIRE(summary);
  auto program = schema::open_store(dir);
  REQUIRE(program);
  return {*summary, std::move(*program)};
}

}  // namespace portcullis::test
