#include "agent/k8s/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/common/status_macros.h"

namespace xvr::k8s {
namespace {

using nlohmann::json;

// Objects nest about ten levels deep; anything far deeper is a mistake or a
// recursive alias. The node budget bounds alias expansion ("billion laughs").
constexpr int kMaxDepth = 100;
constexpr size_t kMaxNodes = 2'000'000;

constexpr char kTagStr[] = "tag:yaml.org,2002:str";
constexpr char kTagInt[] = "tag:yaml.org,2002:int";
constexpr char kTagFloat[] = "tag:yaml.org,2002:float";
constexpr char kTagBool[] = "tag:yaml.org,2002:bool";
constexpr char kTagNull[] = "tag:yaml.org,2002:null";

bool AllOf(absl::string_view s, bool (*pred)(unsigned char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsOctalDigit(unsigned char c) { return c >= '0' && c <= '7'; }

std::optional<json> ParseNull(absl::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json(nullptr);
  return std::nullopt;
}

std::optional<json> ParseBool(absl::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return json(true);
  if (s == "false" || s == "False" || s == "FALSE") return json(false);
  return std::nullopt;
}

// [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
std::optional<json> ParseInt(absl::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    const absl::string_view digits = s.substr(2);
    const bool hex = s[1] == 'x';
    if (!AllOf(digits, hex ? [](unsigned char c) { return absl::ascii_isxdigit(c); }
                           : IsOctalDigit)) {
      return std::nullopt;
    }
    uint64_t v = 0;
    for (char c : digits) {
      const int d = absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
      const uint64_t base = hex ? 16 : 8;
      if (v > (UINT64_MAX - d) / base) return std::nullopt;  // too big: a string then
      v = v * base + d;
    }
    return json(v);
  }
  absl::string_view digits = s;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (!AllOf(digits, [](unsigned char c) { return absl::ascii_isdigit(c); })) return std::nullopt;
  int64_t i = 0;
  if (absl::SimpleAtoi(s, &i)) return json(i);
  uint64_t u = 0;
  if (absl::SimpleAtoi(s, &u)) return json(u);
  double d = 0;
  if (absl::SimpleAtod(s, &d)) return json(d);
  return std::nullopt;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (.inf and .nan have no
// JSON form and stay strings)
std::optional<json> ParseFloat(absl::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  const size_t int_digits = digits();
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    frac_digits = digits();
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double d = 0;
  if (!absl::SimpleAtod(s, &d) || !std::isfinite(d)) return std::nullopt;
  return json(d);
}

json ResolvePlain(const std::string& s) {
  if (auto v = ParseNull(s)) return *v;
  if (auto v = ParseBool(s)) return *v;
  if (auto v = ParseInt(s)) return *v;
  if (auto v = ParseFloat(s)) return *v;
  return json(s);
}

class Converter {
 public:
  absl::StatusOr<json> Convert(const YAML::Node& n) {
    path_.clear();
    return Node(n, 0);
  }

 private:
  using Segment = std::variant<const std::string*, size_t>;

  std::string Path() const {
    std::string out;
    for (const Segment& s : path_) {
      if (const auto* key = std::get_if<const std::string*>(&s)) {
        if (!out.empty()) out += '.';
        out += **key;
      } else {
        absl::StrAppend(&out, "[", std::get<size_t>(s), "]");
      }
    }
    return out.empty() ? "<root>" : out;
  }

  absl::Status Error(const YAML::Node& n, absl::string_view msg) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", n.Mark().line + 1, ": ", Path(), ": ", msg));
  }

  absl::StatusOr<json> Scalar(const YAML::Node& n) {
    const std::string& tag = n.Tag();
    const std::string& s = n.Scalar();
    if (tag == "!" || tag == kTagStr) return json(s);
    if (tag == kTagNull) {
      if (auto v = ParseNull(s)) return *v;
      return Error(n, absl::StrCat("\"", s, "\" is not a !!null"));
    }
    if (tag == kTagBool) {
      if (auto v = ParseBool(s)) return *v;
      return Error(n, absl::StrCat("\"", s, "\" is not a !!bool"));
    }
    if (tag == kTagInt) {
      if (auto v = ParseInt(s)) return *v;
      return Error(n, absl::StrCat("\"", s, "\" is not an !!int"));
    }
    if (tag == kTagFloat) {
      if (auto v = ParseInt(s)) return json(v->get<double>());
      if (auto v = ParseFloat(s)) return *v;
      return Error(n, absl::StrCat("\"", s, "\" is not a !!float"));
    }
    // "?" (plain) and application tags: resolve by content.
    return ResolvePlain(s);
  }

  absl::StatusOr<json> Node(const YAML::Node& n, int depth) {
    if (depth > kMaxDepth) return Error(n, absl::StrCat("nested deeper than ", kMaxDepth));
    if (++nodes_ > kMaxNodes) {
      return Error(n, absl::StrCat("more than ", kMaxNodes, " nodes (alias expansion?)"));
    }
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return Scalar(n);
      case YAML::NodeType::Sequence: {
        json arr = json::array();
        size_t i = 0;
        for (const YAML::Node& item : n) {
          path_.emplace_back(i++);
          ASSIGN_OR_RETURN(json v, Node(item, depth + 1));
          path_.pop_back();
          arr.push_back(std::move(v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        json obj = json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) return Error(kv.first, "mapping keys must be scalars");
          const std::string& key = kv.first.Scalar();
          if (obj.contains(key)) {
            path_.emplace_back(&key);
            return Error(kv.first, "duplicate key");
          }
          path_.emplace_back(&key);
          ASSIGN_OR_RETURN(json v, Node(kv.second, depth + 1));
          path_.pop_back();
          obj[key] = std::move(v);
        }
        return obj;
      }
    }
    return json(nullptr);
  }

  std::vector<Segment> path_;
  size_t nodes_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> YamlToJson(const std::string& text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, " column ",
                                                   e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML: ", e.what()));
  }
  std::vector<YamlDocument> out;
  Converter conv;
  for (size_t i = 0; i < docs.size(); ++i) {
    const YAML::Node& d = docs[i];
    if (!d.IsDefined() || d.IsNull()) continue;
    YamlDocument doc;
    doc.index = static_cast<int>(i) + 1;
    doc.line = d.Mark().line + 1;
    absl::StatusOr<json> v;
    try {
      v = conv.Convert(d);
    } catch (const std::exception& e) {  // yaml-cpp or nlohmann, defensively
      v = absl::InternalError(e.what());
    }
    if (!v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", doc.index, ": ", v.status().message()));
    }
    doc.value = std::move(*v);
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace xvr::k8s
