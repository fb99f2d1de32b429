// xvr-fake-apiserver: the unit tests' fake Kubernetes API server
// (test/unit/k8s/fake_apiserver.h) as a process, so that e2e tests can run
// the real agent against an API server they script from the shell.
//
//   xvr-fake-apiserver [--port P] [--objects FILE] [--token T] [--fail STATUS]
//
// Serves the collections xvr watches (list + watch, resourceVersions, 410
// after a compaction) on http://127.0.0.1:P, P 0 picking a free port, and
// prints that URL as the first line of stdout once it accepts connections.
// --objects loads a YAML or JSON file of Kubernetes objects (several
// documents) first; --token requires "Authorization: Bearer T" on the
// collections; --fail answers every collection request with HTTP STATUS
// until POST /control/fail?kind=all&status=0. SIGTERM or SIGINT stops it.
//
// Control interface, on the same server (no token needed). K is a kind name
// (Service, EndpointSlice, …, case-insensitive) or "all". Answers are JSON; a
// bad request gets 400 and {"error": "..."}. Every POST needs a body or at
// least Content-Length: 0 (curl -d '', not a bare curl -X POST).
//   POST /control/apply[?silent=1]     body: one or more objects (YAML/JSON);
//        stored, ADDED or MODIFIED sent to the watches (silent: no event)
//   POST /control/delete?kind=K&namespace=NS&name=N[&silent=1]
//        removed, DELETED sent (404 when there is no such object)
//   POST /control/compact?kind=K       forget the history: a watch resuming
//        from an older resourceVersion gets 410 Gone
//   POST /control/drop-watches?kind=K  close open watches in mid-body
//   POST /control/end-watches?kind=K   end open watches cleanly
//   POST /control/bookmark?kind=K      send a BOOKMARK
//   POST /control/error?kind=K&code=C  send an ERROR event (410: Expired)
//   POST /control/fail?kind=K&status=S[&count=N][&which=list|watch|any]
//        the next N (1) matching requests get HTTP S; status=0 clears
//   GET  /control/state                resourceVersion and, per kind,
//        objects, list and watch requests, watches started and still open
#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <httplib.h>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/k8s/objects.h"
#include "agent/k8s/yaml_json.h"
#include "test/unit/k8s/fake_apiserver.h"

namespace {

using json = nlohmann::json;
using xvr::k8s::Kind;
using xvr::k8s::testing::FakeApiServer;
using xvr::k8s::testing::RequestKind;

// --fail: "until cleared" as a count FailNext can hold.
constexpr int kUntilCleared = 100000;

void Log(const std::string& msg) { std::cerr << "xvr-fake-apiserver: " << msg << std::endl; }

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}
void ReplyError(httplib::Response& res, int status, const std::string& msg) {
  Reply(res, status, json{{"error", msg}});
}

// The kinds named by the "kind" parameter: one kind, or "all".
absl::StatusOr<std::vector<Kind>> KindsParam(const httplib::Request& req) {
  const std::string name = req.get_param_value("kind");
  if (name.empty()) return absl::InvalidArgumentError("kind: required (a kind name or \"all\")");
  if (absl::EqualsIgnoreCase(name, "all")) {
    return std::vector<Kind>(xvr::k8s::kAllKinds.begin(), xvr::k8s::kAllKinds.end());
  }
  for (Kind k : xvr::k8s::kAllKinds) {
    if (absl::EqualsIgnoreCase(name, xvr::k8s::KindName(k))) return std::vector<Kind>{k};
  }
  return absl::InvalidArgumentError(absl::StrCat("kind: \"", name, "\" is not a kind xvr watches"));
}

struct Doc {
  Kind kind;
  json object;
  std::string name;  // "Service default/web", for answers and logs
};

// Every object of a YAML/JSON stream, checked before any is stored.
absl::StatusOr<std::vector<Doc>> ParseDocs(const std::string& text) {
  absl::StatusOr<std::vector<xvr::k8s::YamlDocument>> docs = xvr::k8s::YamlToJson(text);
  if (!docs.ok()) return docs.status();
  std::vector<Doc> out;
  for (xvr::k8s::YamlDocument& d : *docs) {
    const std::string where = absl::StrCat("document ", d.index, " (line ", d.line, ")");
    json& o = d.value;
    if (!o.is_object() || !o.value("apiVersion", json()).is_string() ||
        !o.value("kind", json()).is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not an object with apiVersion and kind"));
    }
    absl::StatusOr<std::optional<Kind>> kind =
        xvr::k8s::LookupKind(o["apiVersion"].get<std::string>(), o["kind"].get<std::string>());
    if (!kind.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", kind.status().message()));
    if (!kind->has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", o["kind"].get<std::string>(), " is not a kind xvr watches"));
    }
    json& md = o["metadata"];
    if (!md.is_object() || !md.value("name", json()).is_string() ||
        md["name"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": metadata.name: required"));
    }
    std::string name = md["name"].get<std::string>();
    if (xvr::k8s::IsNamespaced(**kind)) {
      // As the API server does for a request without one.
      if (!md.contains("namespace")) md["namespace"] = xvr::k8s::kDefaultNamespace;
      name = absl::StrCat(md["namespace"].get<std::string>(), "/", name);
    }
    out.push_back({**kind, std::move(o), absl::StrCat(xvr::k8s::KindName(**kind), " ", name)});
  }
  return out;
}

bool Flag(const httplib::Request& req, const std::string& key) {
  const std::string v = req.get_param_value(key);
  return v == "1" || v == "true";
}

// The /control/* routes, on `fake`'s own server.
void AddControlRoutes(FakeApiServer& fake, httplib::Server& svr) {
  svr.Post("/control/apply", [&fake](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<std::vector<Doc>> docs = ParseDocs(req.body);
    if (!docs.ok()) return ReplyError(res, 400, std::string(docs.status().message()));
    if (docs->empty()) return ReplyError(res, 400, "no object in the body");
    const bool silent = Flag(req, "silent");
    json applied = json::array();
    int64_t rv = 0;
    for (Doc& d : *docs) {
      rv = fake.Upsert(d.kind, std::move(d.object), silent);
      Log(absl::StrCat("apply ", d.name, " at ", rv, silent ? " (silent)" : ""));
      applied.push_back(d.name);
    }
    Reply(res, 200, json{{"applied", applied}, {"resourceVersion", std::to_string(rv)}});
  });

  svr.Post("/control/delete", [&fake](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<std::vector<Kind>> kinds = KindsParam(req);
    if (!kinds.ok()) return ReplyError(res, 400, std::string(kinds.status().message()));
    if (kinds->size() != 1) return ReplyError(res, 400, "delete: one kind, not all");
    const Kind kind = kinds->front();
    std::string ns = req.get_param_value("namespace");
    const std::string name = req.get_param_value("name");
    if (name.empty()) return ReplyError(res, 400, "name: required");
    if (xvr::k8s::IsNamespaced(kind) && ns.empty()) ns = xvr::k8s::kDefaultNamespace;
    const size_t before = fake.Count(kind);
    const int64_t rv = fake.Remove(kind, ns, name, Flag(req, "silent"));
    const std::string what = absl::StrCat(xvr::k8s::KindName(kind), " ",
                                          ns.empty() ? name : absl::StrCat(ns, "/", name));
    if (fake.Count(kind) == before) return ReplyError(res, 404, absl::StrCat(what, ": not found"));
    Log(absl::StrCat("delete ", what, " at ", rv));
    Reply(res, 200, json{{"deleted", what}, {"resourceVersion", std::to_string(rv)}});
  });

  // Per-kind actions without arguments of their own.
  auto per_kind = [&svr](const std::string& path, std::function<void(Kind)> f) {
    svr.Post(path, [path, f](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<std::vector<Kind>> kinds = KindsParam(req);
      if (!kinds.ok()) return ReplyError(res, 400, std::string(kinds.status().message()));
      json done = json::array();
      for (Kind k : *kinds) {
        f(k);
        done.push_back(xvr::k8s::KindName(k));
      }
      Log(absl::StrCat(path.substr(sizeof("/control/") - 1), " ", req.get_param_value("kind")));
      Reply(res, 200, json{{"kinds", done}});
    });
  };
  per_kind("/control/compact", [&fake](Kind k) { fake.Compact(k); });
  per_kind("/control/drop-watches", [&fake](Kind k) { fake.DropWatches(k); });
  per_kind("/control/end-watches", [&fake](Kind k) { fake.EndWatches(k); });
  per_kind("/control/bookmark", [&fake](Kind k) { fake.SendBookmark(k); });

  svr.Post("/control/error", [&fake](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<std::vector<Kind>> kinds = KindsParam(req);
    if (!kinds.ok()) return ReplyError(res, 400, std::string(kinds.status().message()));
    int code = 410;
    if (req.has_param("code") && !absl::SimpleAtoi(req.get_param_value("code"), &code)) {
      return ReplyError(res, 400, "code: not a number");
    }
    for (Kind k : *kinds) fake.SendError(k, code);
    Log(absl::StrCat("error ", code, " ", req.get_param_value("kind")));
    Reply(res, 200, json{{"code", code}});
  });

  svr.Post("/control/fail", [&fake](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<std::vector<Kind>> kinds = KindsParam(req);
    if (!kinds.ok()) return ReplyError(res, 400, std::string(kinds.status().message()));
    int status = 0, count = 1;
    if (!absl::SimpleAtoi(req.get_param_value("status"), &status) ||
        (status != 0 && (status < 400 || status > 599))) {
      return ReplyError(res, 400, "status: 0 (clear) or an HTTP error status 400-599");
    }
    if (req.has_param("count") && (!absl::SimpleAtoi(req.get_param_value("count"), &count) ||
                                   count < 1 || count > kUntilCleared)) {
      return ReplyError(res, 400, absl::StrCat("count: 1-", kUntilCleared));
    }
    RequestKind which = RequestKind::kAny;
    const std::string w = req.has_param("which") ? req.get_param_value("which") : "any";
    if (w == "list") {
      which = RequestKind::kList;
    } else if (w == "watch") {
      which = RequestKind::kWatch;
    } else if (w != "any") {
      return ReplyError(res, 400, "which: list, watch or any");
    }
    for (Kind k : *kinds) {
      if (status == 0) {
        fake.ClearFailures(k);
      } else {
        fake.FailNext(k, which, status, count);
      }
    }
    Log(status == 0 ? absl::StrCat("fail cleared ", req.get_param_value("kind"))
                    : absl::StrCat("fail ", req.get_param_value("kind"), " ", w, " x", count,
                                   " with ", status));
    Reply(res, 200, json{{"status", status}, {"count", status == 0 ? 0 : count}});
  });

  svr.Get("/control/state", [&fake](const httplib::Request&, httplib::Response& res) {
    json kinds = json::object();
    for (Kind k : xvr::k8s::kAllKinds) {
      kinds[xvr::k8s::KindName(k)] = {{"objects", fake.Count(k)},
                                      {"lists", fake.Requests(k, RequestKind::kList).size()},
                                      {"watches", fake.Requests(k, RequestKind::kWatch).size()},
                                      {"watchesStarted", fake.WatchesStarted(k)},
                                      {"openWatches", fake.OpenWatches(k)}};
    }
    Reply(res, 200,
          json{{"resourceVersion", std::to_string(fake.resource_version())}, {"kinds", kinds}});
  });
}

int Run(int port, const std::string& objects_file, const std::string& token, int fail_status) {
  // Signals go to sigwait below, whichever thread the kernel would pick.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  FakeApiServer fake;
  if (!objects_file.empty()) {
    std::ifstream in(objects_file);
    if (!in) {
      Log(absl::StrCat("--objects ", objects_file, ": cannot read"));
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<Doc>> docs = ParseDocs(text.str());
    if (!docs.ok()) {
      Log(absl::StrCat("--objects ", objects_file, ": ", docs.status().message()));
      return 1;
    }
    for (Doc& d : *docs) fake.Upsert(d.kind, std::move(d.object));
    Log(absl::StrCat("loaded ", docs->size(), " objects from ", objects_file));
  }
  if (!token.empty()) fake.RequireToken(token);
  if (fail_status != 0) {
    for (Kind k : xvr::k8s::kAllKinds)
      fake.FailNext(k, RequestKind::kAny, fail_status, kUntilCleared);
  }
  fake.SetExtraRoutes([&fake](httplib::Server& svr) { AddControlRoutes(fake, svr); });
  if (absl::Status st = fake.Start(port); !st.ok()) {
    Log(std::string(st.message()));
    return 1;
  }
  std::cout << fake.url() << std::endl;
  Log(absl::StrCat("serving on ", fake.url(),
                   fail_status != 0 ? absl::StrCat(", every request failing with ", fail_status)
                                    : std::string()));
  int sig = 0;
  sigwait(&set, &sig);
  Log(absl::StrCat("signal ", sig, ": stopping"));
  fake.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xvr-fake-apiserver: a scriptable fake Kubernetes API server for tests"};
  int port = 0;
  std::string objects, token;
  int fail_status = 0;
  app.add_option("--port", port, "port on 127.0.0.1 (0: a free one)")->check(CLI::Range(0, 65535));
  app.add_option("--objects", objects, "YAML/JSON file of Kubernetes objects to serve");
  app.add_option("--token", token, "bearer token the collections require");
  app.add_option("--fail", fail_status,
                 "answer every collection request with this HTTP status until "
                 "POST /control/fail?kind=all&status=0")
      ->check(CLI::Range(400, 599));
  CLI11_PARSE(app, argc, argv);
  return Run(port, objects, token, fail_status);
}
