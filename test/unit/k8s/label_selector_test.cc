// LabelSelector::Matches with Kubernetes' semantics (labels.Selector).
#include <gtest/gtest.h>

#include "agent/k8s/objects.h"

namespace xvr::k8s {
namespace {

using nlohmann::json;
using Op = LabelSelectorRequirement::Operator;

LabelSelector Parse(const std::string& text) {
  absl::StatusOr<LabelSelector> s = ParseLabelSelector(json::parse(text), "sel");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : LabelSelector{};
}

const Labels kWeb = {{"app", "web"}, {"tier", "fe"}, {"env", "prod"}};

TEST(LabelSelector, EmptySelectorMatchesEverythingIncludingNoLabels) {
  LabelSelector empty = Parse("{}");
  EXPECT_TRUE(empty.Empty());
  EXPECT_TRUE(empty.Matches(kWeb));
  EXPECT_TRUE(empty.Matches({}));
  // Empty lists are still an empty selector.
  EXPECT_TRUE(Parse(R"({"matchLabels": {}, "matchExpressions": []})").Matches({}));
}

TEST(LabelSelector, MatchLabelsNeedsEveryPair) {
  EXPECT_TRUE(Parse(R"({"matchLabels": {"app": "web"}})").Matches(kWeb));
  EXPECT_TRUE(Parse(R"({"matchLabels": {"app": "web", "tier": "fe"}})").Matches(kWeb));
  EXPECT_FALSE(Parse(R"({"matchLabels": {"app": "web", "tier": "be"}})").Matches(kWeb));
  EXPECT_FALSE(Parse(R"({"matchLabels": {"missing": ""}})").Matches(kWeb))
      << "an absent label does not equal the empty value";
  EXPECT_TRUE(Parse(R"({"matchLabels": {"e": ""}})").Matches({{"e", ""}}));
}

TEST(LabelSelector, InNeedsTheKeyWithOneOfTheValues) {
  LabelSelector in = Parse(R"({"matchExpressions": [{"key": "env", "operator": "In",
                                                      "values": ["prod", "staging"]}]})");
  EXPECT_TRUE(in.Matches(kWeb));
  EXPECT_FALSE(in.Matches({{"env", "dev"}}));
  EXPECT_FALSE(in.Matches({}));
}

TEST(LabelSelector, NotInMatchesWhenTheKeyIsAbsent) {
  LabelSelector not_in = Parse(R"({"matchExpressions": [{"key": "env", "operator": "NotIn",
                                                          "values": ["prod"]}]})");
  EXPECT_FALSE(not_in.Matches(kWeb));
  EXPECT_TRUE(not_in.Matches({{"env", "dev"}}));
  EXPECT_TRUE(not_in.Matches({})) << "NotIn holds for a missing key, as in Kubernetes";
}

TEST(LabelSelector, ExistsAndDoesNotExist) {
  LabelSelector exists = Parse(R"({"matchExpressions": [{"key": "tier", "operator": "Exists"}]})");
  EXPECT_TRUE(exists.Matches(kWeb));
  EXPECT_TRUE(exists.Matches({{"tier", ""}}));
  EXPECT_FALSE(exists.Matches({{"app", "web"}}));
  LabelSelector absent =
      Parse(R"({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})");
  EXPECT_FALSE(absent.Matches(kWeb));
  EXPECT_TRUE(absent.Matches({}));
}

TEST(LabelSelector, LabelsAndExpressionsAreAnded) {
  LabelSelector s = Parse(R"({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]},
                           {"key": "canary", "operator": "DoesNotExist"}]})");
  EXPECT_TRUE(s.Matches(kWeb));
  Labels canary = kWeb;
  canary["canary"] = "true";
  EXPECT_FALSE(s.Matches(canary));
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"app", "db"}}));
  ASSERT_EQ(s.match_expressions.size(), 2u);
  EXPECT_EQ(s.match_expressions[1].op, Op::kDoesNotExist);
}

TEST(LabelSelector, InvalidRequirementsAreErrorsWithPaths) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {R"({"matchExpressions": [{"key": "a", "operator": "In"}]})",
       "sel.matchExpressions[0].values: must be non-empty for operator In or NotIn"},
      {R"({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})",
       "sel.matchExpressions[0].values: must be non-empty for operator In or NotIn"},
      {R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})",
       "sel.matchExpressions[0].values: must be empty for operator Exists or DoesNotExist"},
      {R"({"matchExpressions": [{"operator": "Exists"}]})",
       "sel.matchExpressions[0].key: required"},
      {R"({"matchExpressions": [{"key": "a"}]})", "sel.matchExpressions[0].operator: required"},
      {R"({"matchLabels": {"a": true}})", "sel.matchLabels.a: must be a string, got boolean true"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]})",
       "sel.matchExpressions[0].values[0]: must be a string, got number 1"},
      {R"("app=web")", "sel: must be an object, got string \"app=web\""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LabelSelector> s = ParseLabelSelector(json::parse(c.text), "sel");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().message(), c.error) << c.text;
  }
}

}  // namespace
}  // namespace xvr::k8s
