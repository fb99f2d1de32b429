// YAML → JSON: scalars typed as Kubernetes users expect, quoted strings kept
// as strings, errors with document, line and path.
#include "agent/k8s/yaml_json.h"

#include <gtest/gtest.h>

namespace xvr::k8s {
namespace {

using nlohmann::json;

json One(const std::string& yaml) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson(yaml);
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) return json();
  return (*docs)[0].value;
}

TEST(YamlJson, PlainScalarsAreTypedQuotedOnesStayStrings) {
  json j = One(R"(
int: 80
neg: -3
hex: 0x1F
octal: 0o17
float: 1.5
exp: 1e3
yes_true: true
no_false: False
tilde: ~
null_word: null
empty:
plain: web
quoted_int: "80"
single_quoted_bool: 'true'
quoted_null: "null"
tagged_str: !!str 443
tagged_int: !!int "8080"
ip: 10.0.0.1
version: 1.10.0
yes_word: yes
big: 18446744073709551615
)");
  EXPECT_EQ(j["int"], json(80));
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_EQ(j["neg"], json(-3));
  EXPECT_EQ(j["hex"], json(31));
  EXPECT_EQ(j["octal"], json(15));
  EXPECT_EQ(j["float"], json(1.5));
  EXPECT_EQ(j["exp"], json(1000.0));
  EXPECT_EQ(j["yes_true"], json(true));
  EXPECT_EQ(j["no_false"], json(false));
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["null_word"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["plain"], json("web"));
  EXPECT_EQ(j["quoted_int"], json("80"));
  EXPECT_EQ(j["single_quoted_bool"], json("true"));
  EXPECT_EQ(j["quoted_null"], json("null"));
  EXPECT_EQ(j["tagged_str"], json("443"));
  EXPECT_EQ(j["tagged_int"], json(8080));
  EXPECT_EQ(j["ip"], json("10.0.0.1"));
  EXPECT_EQ(j["version"], json("1.10.0"));
  EXPECT_EQ(j["yes_word"], json("yes")) << "YAML 1.2: yes is a string";
  EXPECT_TRUE(j["big"].is_number_unsigned());
}

TEST(YamlJson, BlockScalarsSequencesAndNestedMaps) {
  json j = One(R"(
spec:
  ports:
  - port: 80
    targetPort: http
  - {port: 443, targetPort: 8443}
  script: |
    line one
    line two
)");
  ASSERT_TRUE(j["spec"]["ports"].is_array());
  EXPECT_EQ(j["spec"]["ports"][0]["targetPort"], json("http"));
  EXPECT_EQ(j["spec"]["ports"][1]["targetPort"], json(8443));
  EXPECT_EQ(j["spec"]["script"], json("line one\nline two\n"));
}

TEST(YamlJson, MultipleDocumentsSkipEmptyOnesAndKeepIndexAndLine) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson(
      "a: 1\n"
      "---\n"
      "---\n"
      "# only a comment\n"
      "---\n"
      "b: 2\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].index, 1);
  EXPECT_EQ((*docs)[0].line, 1);
  EXPECT_EQ((*docs)[1].value["b"], json(2));
  EXPECT_EQ((*docs)[1].index, 4);
  EXPECT_EQ((*docs)[1].line, 6);
}

TEST(YamlJson, AnchorsAndAliasesExpand) {
  json j = One("base: &b {app: web}\nsel: *b\n");
  EXPECT_EQ(j["sel"]["app"], json("web"));
}

TEST(YamlJson, SyntaxErrorNamesLineAndColumn) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message().substr(0, 5), "line ");
}

TEST(YamlJson, DuplicateKeyIsAnErrorWithDocumentLineAndPath) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson(
      "a: 1\n"
      "---\n"
      "spec:\n"
      "  ports:\n"
      "  - port: 80\n"
      "    port: 81\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message(), "document 2: line 6: spec.ports[0].port: duplicate key");
}

TEST(YamlJson, NonScalarKeysAreErrors) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson("? [a, b]\n: 1\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("mapping keys must be scalars"), std::string::npos);
}

TEST(YamlJson, BadExplicitTagIsAnError) {
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson("port: !!int http\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message(), "document 1: line 1: port: \"http\" is not an !!int");
}

TEST(YamlJson, AliasBombIsBounded) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", *a" : "*a") + std::to_string(i - 1);
    yaml += "]\n";
  }
  absl::StatusOr<std::vector<YamlDocument>> docs = YamlToJson(yaml);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("alias expansion"), std::string::npos);
}

}  // namespace
}  // namespace xvr::k8s
