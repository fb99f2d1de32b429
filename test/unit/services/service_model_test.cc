// From Services and EndpointSlices to frontends and backends: a table of
// small clusters and the frontends this node ("n1") serves for them.
#include "agent/services/service_model.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace xvr::services {
namespace {

using k8s::IntOrString;
using k8s::Protocol;

constexpr char kLocalNode[] = "n1";

k8s::ServicePort Port(std::string name, Protocol proto, int32_t port,
                      std::optional<IntOrString> target = std::nullopt, int32_t node_port = 0) {
  k8s::ServicePort p;
  p.name = std::move(name);
  p.protocol = proto;
  p.port = port;
  p.target_port = target ? *target : IntOrString::Int(port);
  p.node_port = node_port;
  return p;
}

k8s::Service Svc(std::string ns, std::string name, std::vector<std::string> cluster_ips,
                 std::vector<k8s::ServicePort> ports) {
  k8s::Service s;
  s.meta.namespace_name = std::move(ns);
  s.meta.name = std::move(name);
  s.cluster_ips = std::move(cluster_ips);
  s.ports = std::move(ports);
  return s;
}

// `s` after `edit(s)`: the cases adjust a base object in place.
template <typename Edit>
k8s::Service Edited(k8s::Service s, Edit edit) {
  edit(s);
  return s;
}

enum class Cond { kReady, kServingTerminating, kTerminatingNotServing, kNotReady };

k8s::Endpoint Ep(std::string addr, std::string node, Cond c = Cond::kReady,
                 std::string pod = "") {
  k8s::Endpoint e;
  e.addresses = {std::move(addr)};
  e.node_name = std::move(node);
  switch (c) {
    case Cond::kReady:
      break;
    case Cond::kServingTerminating:
      e.ready = false;
      e.terminating = true;
      break;
    case Cond::kTerminatingNotServing:
      e.ready = false;
      e.serving = false;
      e.terminating = true;
      break;
    case Cond::kNotReady:
      e.ready = false;
      e.serving = false;
      break;
  }
  if (!pod.empty()) e.target_ref = k8s::ObjectReference{"Pod", "", std::move(pod), ""};
  return e;
}

k8s::EndpointPort EPort(std::string name, Protocol proto, std::optional<int32_t> port) {
  return {std::move(name), proto, port};
}

k8s::EndpointSlice Slice(std::string ns, std::string name, std::string service,
                         std::vector<k8s::EndpointPort> ports, std::vector<k8s::Endpoint> eps,
                         k8s::AddressType type = k8s::AddressType::kIPv4) {
  k8s::EndpointSlice s;
  s.meta.namespace_name = std::move(ns);
  s.meta.name = std::move(name);
  s.meta.labels[k8s::kServiceNameLabel] = std::move(service);
  s.address_type = type;
  s.ports = std::move(ports);
  s.endpoints = std::move(eps);
  return s;
}

k8s::Pod PodWithPort(std::string ns, std::string name, std::string port_name, int32_t port,
                     Protocol proto = Protocol::kTcp) {
  k8s::Pod p;
  p.meta.namespace_name = std::move(ns);
  p.meta.name = std::move(name);
  p.containers.push_back({"app", {{std::move(port_name), port, proto}}});
  return p;
}

// A web service: port "http" 80 → 8080, endpoints given.
k8s::Service Web(std::string ip, std::string ns = "default", std::string name = "web") {
  return Svc(std::move(ns), std::move(name), {std::move(ip)},
             {Port("http", Protocol::kTcp, 80, IntOrString::Int(8080))});
}
k8s::EndpointSlice WebSlice(std::vector<k8s::Endpoint> eps, std::string ns = "default",
                            std::string service = "web", std::string name = "") {
  if (name.empty()) name = service + "-abc";
  return Slice(std::move(ns), std::move(name), std::move(service),
               {EPort("http", Protocol::kTcp, 8080)}, std::move(eps));
}

// "<key> <service>:<port name>[ flags] -> <backend>…", a backend as
// "<addr>[@local][(terminating)]".
std::string Render(const Frontend& f) {
  std::string s = absl::StrCat(f.key.ToString(), " ", f.service, ":", f.port_name);
  if (f.flags & XVR_SVC_F_AFFINITY) absl::StrAppend(&s, " affinity=", f.affinity_timeout_seconds);
  if (f.flags & XVR_SVC_F_LOCAL) absl::StrAppend(&s, " local");
  if (f.flags & XVR_SVC_F_KEEP_SRC) absl::StrAppend(&s, " keep-src");
  if (f.flags & XVR_SVC_F_EMPTY_DROP) absl::StrAppend(&s, " empty-drop");
  absl::StrAppend(&s, " ->");
  for (const Backend& b : f.backends) {
    absl::StrAppend(&s, " ", b.addr.ToString(), b.local ? "@local" : "",
                    b.terminating ? "(terminating)" : "");
  }
  return s;
}

struct Result {
  std::vector<Frontend> frontends;
  std::vector<std::string> rendered;
  std::vector<std::string> warnings;
};

Result Build(std::vector<k8s::Object> objects) {
  k8s::ClusterState state;
  for (k8s::Object& o : objects) state.Apply(std::move(o));
  Result r;
  r.frontends = BuildFrontends(state.GetSnapshot(), ModelInput{kLocalNode}, &r.warnings);
  for (const Frontend& f : r.frontends) r.rendered.push_back(Render(f));
  return r;
}

struct Case {
  std::string name;
  std::vector<k8s::Object> objects;
  std::vector<std::string> want;
  // Each warning, in order, contains the matching string.
  std::vector<std::string> warnings = {};
};

std::vector<Case> Cases() {
  const Protocol TCP = Protocol::kTcp, UDP = Protocol::kUdp, SCTP = Protocol::kSctp;
  std::vector<Case> cases;

  cases.push_back(
      {"ClusterIP, one frontend per port: TCP, UDP and SCTP",
       {Svc("kube-system", "dns", {"10.96.0.10"},
            {Port("dns", UDP, 53), Port("dns-tcp", TCP, 53), Port("metrics", TCP, 9153),
             Port("diameter", SCTP, 3868)}),
        Slice("kube-system", "dns-abc", "dns",
              {EPort("dns", UDP, 5353), EPort("dns-tcp", TCP, 5353), EPort("metrics", TCP, 9153),
               EPort("diameter", SCTP, 3868)},
              {Ep("10.0.2.5", "n2"), Ep("10.0.1.5", "n1")})},
       {"10.96.0.10:53/TCP kube-system/dns:dns-tcp -> 10.0.1.5:5353/TCP@local 10.0.2.5:5353/TCP",
        "10.96.0.10:53/UDP kube-system/dns:dns -> 10.0.1.5:5353/UDP@local 10.0.2.5:5353/UDP",
        "10.96.0.10:3868/SCTP kube-system/dns:diameter -> 10.0.1.5:3868/SCTP@local "
        "10.0.2.5:3868/SCTP",
        "10.96.0.10:9153/TCP kube-system/dns:metrics -> 10.0.1.5:9153/TCP@local "
        "10.0.2.5:9153/TCP"}});

  cases.push_back({"a slice port matches by name and protocol",
                   {Svc("default", "dns", {"10.96.0.11"}, {Port("dns", UDP, 53)}),
                    Slice("default", "dns-abc", "dns", {EPort("dns", TCP, 53)},
                          {Ep("10.0.2.5", "n2")})},
                   {"10.96.0.11:53/UDP default/dns:dns ->"}});

  cases.push_back(
      {"the slice's port number wins over targetPort, named or numeric",
       {Svc("default", "web", {"10.96.0.12"},
            {Port("http", TCP, 80, IntOrString::Str("web")),
             Port("admin", TCP, 81, IntOrString::Int(9090))}),
        Slice("default", "web-abc", "web", {EPort("http", TCP, 8080), EPort("admin", TCP, 9091)},
              {Ep("10.0.2.5", "n2")})},
       {"10.96.0.12:80/TCP default/web:http -> 10.0.2.5:8080/TCP",
        "10.96.0.12:81/TCP default/web:admin -> 10.0.2.5:9091/TCP"}});

  cases.push_back(
      {"a slice port without a number: numeric targetPort, or the Pod's named port",
       {Svc("default", "web", {"10.96.0.13"},
            {Port("http", TCP, 80, IntOrString::Str("web")),
             Port("admin", TCP, 81, IntOrString::Int(9090))}),
        PodWithPort("default", "web-1", "web", 8081), PodWithPort("default", "web-2", "web", 8082),
        PodWithPort("default", "web-4", "web", 8084, UDP),
        Slice("default", "web-abc", "web",
              {EPort("http", TCP, std::nullopt), EPort("admin", TCP, std::nullopt)},
              {Ep("10.0.1.5", "n1", Cond::kReady, "web-1"),
               Ep("10.0.2.5", "n2", Cond::kReady, "web-2"),
               Ep("10.0.3.5", "n3", Cond::kReady, "web-3"),  // no such Pod
               Ep("10.0.4.5", "n4"),                         // no targetRef
               Ep("10.0.5.5", "n5", Cond::kReady, "web-4")})},  // "web" is UDP there
       {"10.96.0.13:80/TCP default/web:http -> 10.0.1.5:8081/TCP@local 10.0.2.5:8082/TCP",
        "10.96.0.13:81/TCP default/web:admin -> 10.0.1.5:9090/TCP@local 10.0.2.5:9090/TCP "
        "10.0.3.5:9090/TCP 10.0.4.5:9090/TCP 10.0.5.5:9090/TCP"},
       {"10.0.3.5: named targetPort \"web\" and Pod default/web-3 is unknown",
        "10.0.4.5: named targetPort \"web\" and the endpoint names no Pod",
        "10.0.5.5: Pod default/web-4 has no TCP port named \"web\""}});

  cases.push_back({"ready endpoints only while there are any",
                   {Web("10.96.0.14"),
                    WebSlice({Ep("10.0.1.5", "n1", Cond::kServingTerminating),
                              Ep("10.0.2.5", "n2"),
                              Ep("10.0.3.5", "n3", Cond::kTerminatingNotServing),
                              Ep("10.0.4.5", "n4", Cond::kNotReady)})},
                   {"10.96.0.14:80/TCP default/web:http -> 10.0.2.5:8080/TCP"}});

  cases.push_back(
      {"no ready endpoint: the serving terminating ones, never the others",
       {Web("10.96.0.15"),
        WebSlice({Ep("10.0.1.5", "n1", Cond::kServingTerminating),
                  Ep("10.0.3.5", "n3", Cond::kTerminatingNotServing),
                  Ep("10.0.4.5", "n4", Cond::kNotReady),
                  Ep("10.0.5.5", "n5", Cond::kServingTerminating)})},
       {"10.96.0.15:80/TCP default/web:http -> 10.0.1.5:8080/TCP@local(terminating) "
        "10.0.5.5:8080/TCP(terminating)"}});

  cases.push_back({"no usable endpoint: no backends",
                   {Web("10.96.0.16"),
                    WebSlice({Ep("10.0.3.5", "n3", Cond::kTerminatingNotServing),
                              Ep("10.0.4.5", "n4", Cond::kNotReady)})},
                   {"10.96.0.16:80/TCP default/web:http ->"}});

  cases.push_back(
      {"several slices merge; an endpoint in two counts once, at its best condition",
       {Web("10.96.0.17"),
        WebSlice({Ep("10.0.1.5", "n1"), Ep("10.0.2.5", "n2", Cond::kServingTerminating)},
                 "default", "web", "web-a"),
        WebSlice({Ep("10.0.2.5", "n2"), Ep("10.0.3.5", "n3"), Ep("10.0.1.5", "n1")}, "default",
                 "web", "web-b")},
       {"10.96.0.17:80/TCP default/web:http -> 10.0.1.5:8080/TCP@local 10.0.2.5:8080/TCP "
        "10.0.3.5:8080/TCP"}});

  cases.push_back(
      {"IPv6 slices, clusterIPs and externalIPs are skipped silently",
       {Edited(Svc("default", "web", {"fd00::10", "10.96.0.18"},
                   {Port("http", TCP, 80, IntOrString::Int(8080))}),
               [](k8s::Service& s) { s.external_ips = {"2001:db8::1"}; }),
        Slice("default", "web-v6", "web", {EPort("http", TCP, 8080)},
              {Ep("fd00:1::5", "n1")}, k8s::AddressType::kIPv6),
        WebSlice({Ep("10.0.2.5", "n2")})},
       {"10.96.0.18:80/TCP default/web:http -> 10.0.2.5:8080/TCP"}});

  cases.push_back(
      {"a same-named service's slice in another namespace is not mixed in",
       {Web("10.96.0.19"), Web("10.96.1.19", "other"), WebSlice({Ep("10.0.2.5", "n2")}),
        WebSlice({Ep("10.0.9.9", "n2")}, "other")},
       {"10.96.0.19:80/TCP default/web:http -> 10.0.2.5:8080/TCP",
        "10.96.1.19:80/TCP other/web:http -> 10.0.9.9:8080/TCP"}});

  const auto itp_local = [](k8s::Service& s) {
    s.internal_traffic_policy = k8s::TrafficPolicy::kLocal;
  };
  cases.push_back({"internalTrafficPolicy Local: this node's endpoints",
                   {Edited(Web("10.96.0.20"), itp_local),
                    WebSlice({Ep("10.0.1.5", "n1"), Ep("10.0.2.5", "n2")})},
                   {"10.96.0.20:80/TCP default/web:http local -> 10.0.1.5:8080/TCP@local"}});
  cases.push_back({"internalTrafficPolicy Local, endpoints elsewhere only: drop",
                   {Edited(Web("10.96.0.21"), itp_local), WebSlice({Ep("10.0.2.5", "n2")})},
                   {"10.96.0.21:80/TCP default/web:http local empty-drop ->"}});
  cases.push_back({"internalTrafficPolicy Local, no endpoints at all: reject",
                   {Edited(Web("10.96.0.22"), itp_local), WebSlice({})},
                   {"10.96.0.22:80/TCP default/web:http local ->"}});
  cases.push_back(
      {"internalTrafficPolicy Local: terminating local endpoints before remote ready ones",
       {Edited(Web("10.96.0.23"), itp_local),
        WebSlice({Ep("10.0.1.5", "n1", Cond::kServingTerminating), Ep("10.0.2.5", "n2")})},
       {"10.96.0.23:80/TCP default/web:http local -> 10.0.1.5:8080/TCP@local(terminating)"}});

  const auto etp_local = [](k8s::Service& s) {
    s.type = k8s::ServiceType::kNodePort;
    s.ports[0].node_port = 30080;
    s.external_traffic_policy = k8s::TrafficPolicy::kLocal;
  };
  cases.push_back({"externalTrafficPolicy Local with a local endpoint",
                   {Edited(Web("10.96.0.24"), etp_local),
                    WebSlice({Ep("10.0.1.5", "n1"), Ep("10.0.2.5", "n2")})},
                   {"*:30080/TCP external default/web:http local keep-src -> "
                    "10.0.1.5:8080/TCP@local",
                    "10.96.0.24:80/TCP default/web:http -> 10.0.1.5:8080/TCP@local "
                    "10.0.2.5:8080/TCP"}});
  cases.push_back({"externalTrafficPolicy Local, endpoints elsewhere only: drop",
                   {Edited(Web("10.96.0.25"), etp_local), WebSlice({Ep("10.0.2.5", "n2")})},
                   {"*:30080/TCP external default/web:http local keep-src empty-drop ->",
                    "10.96.0.25:80/TCP default/web:http -> 10.0.2.5:8080/TCP"}});
  cases.push_back({"externalTrafficPolicy Local, no endpoints at all: reject",
                   {Edited(Web("10.96.0.26"), etp_local)},
                   {"*:30080/TCP external default/web:http local keep-src ->",
                    "10.96.0.26:80/TCP default/web:http ->"}});

  cases.push_back(
      {"LoadBalancer: ClusterIP, NodePort and externalIP frontends per port",
       {Edited(Svc("default", "lb", {"10.96.0.27"},
                   {Port("http", TCP, 80, IntOrString::Int(8080), 30081),
                    Port("dns", UDP, 53, std::nullopt, 30053)}),
               [](k8s::Service& s) {
                 s.type = k8s::ServiceType::kLoadBalancer;
                 s.external_ips = {"192.0.2.10", "2001:db8::1"};
               }),
        Slice("default", "lb-abc", "lb", {EPort("http", TCP, 8080), EPort("dns", UDP, 53)},
              {Ep("10.0.2.5", "n2")})},
       {"*:30053/UDP external default/lb:dns -> 10.0.2.5:53/UDP",
        "*:30081/TCP external default/lb:http -> 10.0.2.5:8080/TCP",
        "10.96.0.27:53/UDP default/lb:dns -> 10.0.2.5:53/UDP",
        "10.96.0.27:80/TCP default/lb:http -> 10.0.2.5:8080/TCP",
        "192.0.2.10:53/UDP external default/lb:dns -> 10.0.2.5:53/UDP",
        "192.0.2.10:80/TCP external default/lb:http -> 10.0.2.5:8080/TCP"}});

  cases.push_back({"type ClusterIP: a nodePort is ignored, externalIPs are served",
                   {Edited(Web("10.96.0.28"),
                           [](k8s::Service& s) {
                             s.ports[0].node_port = 30090;
                             s.external_ips = {"192.0.2.20"};
                           }),
                    WebSlice({Ep("10.0.2.5", "n2")})},
                   {"10.96.0.28:80/TCP default/web:http -> 10.0.2.5:8080/TCP",
                    "192.0.2.20:80/TCP external default/web:http -> 10.0.2.5:8080/TCP"}});

  cases.push_back(
      {"sessionAffinity ClientIP on every frontend, with its timeout",
       {Edited(Web("10.96.0.29"),
               [](k8s::Service& s) {
                 s.type = k8s::ServiceType::kNodePort;
                 s.ports[0].node_port = 30082;
                 s.session_affinity = k8s::SessionAffinity::kClientIP;
                 s.affinity_timeout_seconds = 600;
               }),
        WebSlice({Ep("10.0.2.5", "n2")})},
       {"*:30082/TCP external default/web:http affinity=600 -> 10.0.2.5:8080/TCP",
        "10.96.0.29:80/TCP default/web:http affinity=600 -> 10.0.2.5:8080/TCP"}});

  cases.push_back(
      {"headless, ExternalName and clusterIP-less services have no frontends",
       {Edited(Web("None", "default", "headless"),
               [](k8s::Service& s) {
                 s.type = k8s::ServiceType::kNodePort;
                 s.ports[0].node_port = 30083;
                 s.external_ips = {"192.0.2.30"};
               }),
        WebSlice({Ep("10.0.2.5", "n2")}, "default", "headless"),
        Edited(Svc("default", "ext", {}, {Port("http", TCP, 80)}),
               [](k8s::Service& s) {
                 s.type = k8s::ServiceType::kExternalName;
                 s.external_name = "example.com";
               }),
        Svc("default", "manual", {}, {Port("http", TCP, 80)}),
        WebSlice({Ep("10.0.2.5", "n2")}, "default", "manual")},
       {}});

  // "a-b/web" sorts before "a/web" as a string ('-' < '/'), though the
  // snapshot lists namespace "a" first.
  const auto node_port = [](int32_t p) {
    return [p](k8s::Service& s) {
      s.type = k8s::ServiceType::kNodePort;
      s.ports[0].node_port = p;
    };
  };
  cases.push_back(
      {"two services claim one nodePort: the first ns/name keeps it",
       {Edited(Web("10.96.0.30", "a"), node_port(30084)),
        Edited(Web("10.96.0.31", "a-b"), node_port(30084)),
        WebSlice({Ep("10.0.2.5", "n2")}, "a"), WebSlice({Ep("10.0.3.5", "n3")}, "a-b")},
       {"*:30084/TCP external a-b/web:http -> 10.0.3.5:8080/TCP",
        "10.96.0.30:80/TCP a/web:http -> 10.0.2.5:8080/TCP",
        "10.96.0.31:80/TCP a-b/web:http -> 10.0.3.5:8080/TCP"},
       {"Service a/web: frontend *:30084/TCP external is already Service a-b/web's"}});

  cases.push_back(
      {"an endpoint or clusterIP that is not an address is skipped with a warning",
       {Svc("default", "web", {"10.96.0.300", "10.96.0.32"},
            {Port("http", TCP, 80, IntOrString::Int(8080))}),
        WebSlice({Ep("10.0.2.5", "n2"), Ep("10.0.2.x", "n2")})},
       {"10.96.0.32:80/TCP default/web:http -> 10.0.2.5:8080/TCP"},
       {"Service default/web: clusterIP \"10.96.0.300\"", "endpoint 10.0.2.x: "}});

  return cases;
}

TEST(BuildFrontends, Table) {
  for (Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Result r = Build(std::move(c.objects));
    EXPECT_EQ(r.rendered, c.want) << absl::StrJoin(r.rendered, "\n");
    ASSERT_EQ(r.warnings.size(), c.warnings.size()) << absl::StrJoin(r.warnings, "\n");
    for (size_t i = 0; i < c.warnings.size(); ++i) {
      EXPECT_TRUE(absl::StrContains(r.warnings[i], c.warnings[i]))
          << r.warnings[i] << "\nshould contain\n"
          << c.warnings[i];
    }
  }
}

TEST(BuildFrontends, FillsTypesNamesAndBackendDetails) {
  const Result r = Build(
      {Edited(Web("10.96.0.40"),
              [](k8s::Service& s) {
                s.type = k8s::ServiceType::kNodePort;
                s.ports[0].node_port = 30085;
                s.external_ips = {"192.0.2.40"};
              }),
       WebSlice({Ep("10.0.1.5", "n1", Cond::kReady, "web-1"), Ep("10.0.2.5", "n2")})});
  ASSERT_EQ(r.frontends.size(), 3u);
  EXPECT_EQ(r.frontends[0].type, Frontend::Type::kNodePort);
  EXPECT_EQ(r.frontends[0].key, (FrontendKey{Ipv4Addr(), 30085, IPPROTO_TCP,
                                             XVR_SVC_SCOPE_EXTERNAL}));
  EXPECT_EQ(r.frontends[1].type, Frontend::Type::kClusterIP);
  EXPECT_EQ(r.frontends[1].key.scope, XVR_SVC_SCOPE_INTERNAL);
  EXPECT_EQ(r.frontends[2].type, Frontend::Type::kExternalIP);
  EXPECT_EQ(r.frontends[2].key.scope, XVR_SVC_SCOPE_EXTERNAL);
  for (const Frontend& f : r.frontends) {
    EXPECT_EQ(f.service, "default/web");
    EXPECT_EQ(f.port_name, "http");
    EXPECT_EQ(f.flags, 0);
    EXPECT_EQ(f.affinity_timeout_seconds, 0u);
    ASSERT_EQ(f.backends.size(), 2u);
    EXPECT_EQ(f.backends[0].addr, (BackendAddr{*Ipv4Addr::Parse("10.0.1.5"), 8080, IPPROTO_TCP}));
    EXPECT_EQ(f.backends[0].node_name, "n1");
    EXPECT_EQ(f.backends[0].pod, "default/web-1");
    EXPECT_TRUE(f.backends[0].local);
    EXPECT_FALSE(f.backends[0].terminating);
    EXPECT_EQ(f.backends[1].node_name, "n2");
    EXPECT_EQ(f.backends[1].pod, "");
    EXPECT_FALSE(f.backends[1].local);
  }
  EXPECT_TRUE(r.warnings.empty());
}

TEST(BuildFrontends, NoLocalNodeNameMeansNoLocalBackends) {
  k8s::ClusterState state;
  state.Apply(Web("10.96.0.41"));
  state.Apply(WebSlice({Ep("10.0.1.5", "")}));
  const std::vector<Frontend> f = BuildFrontends(state.GetSnapshot(), ModelInput{});
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].backends.size(), 1u);
  EXPECT_FALSE(f[0].backends[0].local);
}

// Objects as they arrive from the API server or a manifests directory: the
// parser's defaults (ready when conditions are absent, targetPort = port)
// are what the model reads.
TEST(BuildFrontends, FromParsedObjects) {
  const nlohmann::json svc = nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "dns", "namespace": "kube-system"},
    "spec": {"clusterIP": "10.96.0.10", "ports": [
      {"name": "dns", "port": 53, "protocol": "UDP"},
      {"name": "dns-tcp", "port": 53}]}})");
  const nlohmann::json slice = nlohmann::json::parse(R"({
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "dns-x1", "namespace": "kube-system",
                 "labels": {"kubernetes.io/service-name": "dns"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.0.1.7"], "nodeName": "n1",
       "targetRef": {"kind": "Pod", "namespace": "kube-system", "name": "coredns-1"}},
      {"addresses": ["10.0.2.7"], "nodeName": "n2",
       "conditions": {"ready": false, "serving": true, "terminating": true}}],
    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
              {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]})");
  absl::StatusOr<k8s::Object> s = k8s::ParseObject(k8s::Kind::kService, svc);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<k8s::Object> es = k8s::ParseObject(k8s::Kind::kEndpointSlice, slice);
  ASSERT_TRUE(es.ok()) << es.status();
  const Result r = Build({*s, *es});
  EXPECT_EQ(r.rendered,
            (std::vector<std::string>{
                "10.96.0.10:53/TCP kube-system/dns:dns-tcp -> 10.0.1.7:53/TCP@local",
                "10.96.0.10:53/UDP kube-system/dns:dns -> 10.0.1.7:53/UDP@local"}));
  ASSERT_EQ(r.frontends.size(), 2u);
  EXPECT_EQ(r.frontends[0].backends[0].pod, "kube-system/coredns-1");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ServiceModelToString, BackendAndFrontendKeys) {
  const Ipv4Addr be = *Ipv4Addr::Parse("10.0.1.5");
  EXPECT_EQ((BackendAddr{be, 8080, IPPROTO_TCP}).ToString(), "10.0.1.5:8080/TCP");
  EXPECT_EQ((BackendAddr{be, 53, IPPROTO_UDP}).ToString(), "10.0.1.5:53/UDP");
  EXPECT_EQ((BackendAddr{be, 3868, IPPROTO_SCTP}).ToString(), "10.0.1.5:3868/SCTP");
  EXPECT_EQ((FrontendKey{*Ipv4Addr::Parse("10.96.0.10"), 53, IPPROTO_UDP,
                         XVR_SVC_SCOPE_INTERNAL})
                .ToString(),
            "10.96.0.10:53/UDP");
  EXPECT_EQ((FrontendKey{Ipv4Addr(), 30080, IPPROTO_TCP, XVR_SVC_SCOPE_EXTERNAL}).ToString(),
            "*:30080/TCP external");
  EXPECT_EQ((FrontendKey{*Ipv4Addr::Parse("192.0.2.10"), 80, IPPROTO_TCP,
                         XVR_SVC_SCOPE_EXTERNAL})
                .ToString(),
            "192.0.2.10:80/TCP external");
}

}  // namespace
}  // namespace xvr::services
