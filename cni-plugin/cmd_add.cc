#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/commands.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/netns.h"
#include "cni-plugin/pod_link.h"
#include "cni-plugin/rtnl.h"
#include "cni-plugin/veth_name.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

Result AttachmentResult(const CmdEnv& env, const LinkInfo& host, const LinkInfo& pod,
                        const RegisterAnswer& answer) {
  Result r;
  Interface& h = r.interfaces.emplace_back();
  h.name = host.name;
  h.mac = host.mac;
  h.mtu = host.mtu;
  Interface& p = r.interfaces.emplace_back();
  p.name = env.ifname;
  p.mac = pod.mac;
  p.sandbox = env.netns;
  p.mtu = pod.mtu;
  IpConfig& ip = r.ips.emplace_back();
  ip.address = answer.ip;
  ip.gateway = answer.gateway;
  ip.interface = 1;  // the pod interface
  for (const AgentRoute& rt : answer.routes) {
    Route& out = r.routes.emplace_back();
    out.dst = rt.dst;
    out.gw = rt.gw;
  }
  return r;
}

}  // namespace

absl::StatusOr<Result> CmdAdd(const CmdEnv& env, const NetConf& conf, AgentClient& agent) {
  Result prev;
  if (conf.prev_result) {
    ASSIGN_OR_RETURN(prev, ParseResult(*conf.prev_result));
  }

  ASSIGN_OR_RETURN(Netns ns, Netns::Open(env.netns));
  ASSIGN_OR_RETURN(bool taken, LinkExistsIn(ns, env.ifname));
  if (taken) {
    return CniError(Code::kInterfaceExists,
                    absl::StrCat("interface \"", env.ifname, "\" already exists in ", env.netns));
  }

  const std::string host_name = HostVethName(env.container_id, env.ifname);
  const std::string temp_name = TempPeerName(env.container_id, env.ifname);
  ASSIGN_OR_RETURN(Rtnl node, Rtnl::Open());
  if (absl::Status st = node.CreateVeth(host_name, temp_name); !st.ok()) {
    if (absl::IsAlreadyExists(st)) {
      // Not ours to delete: an earlier ADD of this attachment that was never
      // DELeted, which the runtime must DEL first.
      return CniError(Code::kInterfaceExists,
                      absl::StrCat("host interface ", host_name, " (or ", temp_name,
                                   ") already exists: DEL this attachment first"));
    }
    return st;
  }
  spdlog::debug("add: created veth {} <-> {}", host_name, temp_name);

  bool registered = false;
  absl::Cleanup rollback = [&] {
    if (registered) {
      if (absl::Status st = agent.Unregister(env.container_id, env.ifname); !st.ok()) {
        spdlog::warn("add rollback: unregister {}/{}: {}", env.container_id, env.ifname,
                     std::string(st.message()));
      }
    }
    // The pod end goes with it, wherever it is by now.
    if (absl::Status st = node.DeleteLink(host_name); !st.ok() && !absl::IsNotFound(st)) {
      spdlog::warn("add rollback: {}", std::string(st.message()));
    }
  };

  RETURN_IF_ERROR(node.MoveToNetns(temp_name, ns.fd()));
  ASSIGN_OR_RETURN(LinkInfo pod, PreparePodLink(ns, temp_name, env.ifname));
  RETURN_IF_ERROR(node.SetUp(host_name));

  ASSIGN_OR_RETURN(RegisterAnswer answer,
                   agent.Register({.container_id = env.container_id,
                                   .ifname = env.ifname,
                                   .netns = env.netns,
                                   .host_ifname = host_name,
                                   .mac = pod.mac,
                                   .pod_namespace = env.args.pod_namespace,
                                   .pod_name = env.args.pod_name}));
  registered = true;
  spdlog::debug("add: agent gave {} gw {} mtu {}", answer.ip, answer.gateway, answer.mtu);

  if (answer.mtu != 0) RETURN_IF_ERROR(node.SetMtu(host_name, answer.mtu));
  ASSIGN_OR_RETURN(pod, ConfigurePodAddressing(ns, env.ifname, answer));
  ASSIGN_OR_RETURN(LinkInfo host, node.GetLink(host_name));

  std::move(rollback).Cancel();
  return AppendResult(std::move(prev), AttachmentResult(env, host, pod, answer));
}

}  // namespace xvr::cni
