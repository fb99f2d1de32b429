// YAML → JSON, so manifests reach the same JSON parsers as objects from the
// API server.
//
// Plain scalars are typed by the YAML 1.2 core schema, as Kubernetes users
// expect: 80 is a number, true a boolean, ~ / null / an empty value null,
// anything else a string; a quoted scalar ('80', "true") or one tagged !!str
// stays a string. Mapping keys become strings. Duplicate keys are an error
// (kubectl rejects them too, and one of the two values would be lost
// silently). Errors name the document, its line and the path of the node.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace xvr::k8s {

struct YamlDocument {
  nlohmann::json value;
  int index = 0;  // 1-based position in the stream, empty documents included
  int line = 0;   // 1-based line where the document's content starts
};

// Every non-empty document of a (multi-document) YAML stream. Never throws.
absl::StatusOr<std::vector<YamlDocument>> YamlToJson(const std::string& text);

}  // namespace xvr::k8s
