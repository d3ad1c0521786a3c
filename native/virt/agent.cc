// Guest-agent calls through libvirt (libvirt-qemu's qemuAgentCommand, getGuestInfo, getGuestVcpus, the
// agent response timeout). Callers give these a connection of their own: a stuck agent stalled other calls on a shared
// connection in the lab.
#include "virt.h"

#include <libvirt/libvirt-qemu.h>

namespace virt {

namespace {

// qemuAgentCommand(conn, uuid, commandJson, timeoutSec, flags?) -> reply JSON string
Napi::Value QemuAgentCommand(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string cmd = call.Str(2, "command");
  int timeout = call.Int(3, "timeout");
  unsigned int flags = call.Flags(4);
  char* reply = call.Run([&] { return virDomainQemuAgentCommand(call.dom(), cmd.c_str(), timeout, flags); });
  if (!reply) call.Fail("virDomainQemuAgentCommand");
  return TakeString(call.env(), reply);
}

// getGuestInfo(conn, uuid, types?, flags?) -> typed params as a flat object ("os.id", "fs.0.name", ...)
Napi::Value GetGuestInfo(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int types = call.Flags(2);
  unsigned int flags = call.Flags(3);
  virTypedParameterPtr params = nullptr;
  int n = 0;
  if (call.Run([&] { return virDomainGetGuestInfo(call.dom(), types, &params, &n, flags); }) < 0) call.Fail("virDomainGetGuestInfo");
  Napi::Object o = TypedParamsToObject(call.env(), params, n);
  virTypedParamsFree(params, n);
  return o;
}

// getGuestVcpus(conn, uuid, flags?) -> { vcpus, online, offlinable } CPU lists as the guest agent reports them
Napi::Value GetGuestVcpus(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  virTypedParameterPtr params = nullptr;
  unsigned int n = 0;
  if (virDomainGetGuestVcpus(d.get(), &params, &n, ArgFlags(info, 2)) < 0)
    c.Fail(env, "virDomainGetGuestVcpus", &uuid);
  Napi::Object o = TypedParamsToObject(env, params, static_cast<int>(n));
  virTypedParamsFree(params, static_cast<int>(n));
  return o;
}

// agentSetResponseTimeout(conn, uuid, timeoutSec, flags?)
Napi::Value AgentSetResponseTimeout(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  int timeout = call.Int(2, "timeout");
  unsigned int flags = call.Flags(3);
  if (call.Run([&] { return virDomainAgentSetResponseTimeout(call.dom(), timeout, flags); }) < 0) call.Fail("virDomainAgentSetResponseTimeout");
  return call.env().Undefined();
}

}  // namespace

void RegisterAgentFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"qemuAgentCommand", QemuAgentCommand},
      {"getGuestInfo", GetGuestInfo},
      {"agentSetResponseTimeout", AgentSetResponseTimeout},
      {"getGuestVcpus", GetGuestVcpus},
  });
}

}  // namespace virt
