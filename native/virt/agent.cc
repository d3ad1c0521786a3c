// Guest-agent calls through libvirt (libvirt-qemu's qemuAgentCommand, getGuestInfo, getGuestVcpus, the
// agent response timeout). Callers give these a connection of their own: a stuck agent stalled other calls on a shared
// connection in the lab.
#include "virt.h"

#include <libvirt/libvirt-qemu.h>

namespace virt {

namespace {

// qemuAgentCommand(conn, uuid, commandJson, timeoutSec, flags?) -> reply JSON string
Napi::Value QemuAgentCommand(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string cmd = ArgStr(info, 2, "command");
  int timeout = ArgInt(info, 3, "timeout");
  DomRef d = c.Domain(env, uuid);
  char* reply = virDomainQemuAgentCommand(d.get(), cmd.c_str(), timeout, ArgFlags(info, 4));
  if (!reply) c.Fail(env, "virDomainQemuAgentCommand", &uuid);
  return TakeString(env, reply);
}

// getGuestInfo(conn, uuid, types?, flags?) -> typed params as a flat object ("os.id", "fs.0.name", ...)
Napi::Value GetGuestInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  virTypedParameterPtr params = nullptr;
  int n = 0;
  if (virDomainGetGuestInfo(d.get(), ArgFlags(info, 2), &params, &n, ArgFlags(info, 3)) < 0)
    c.Fail(env, "virDomainGetGuestInfo", &uuid);
  Napi::Object o = TypedParamsToObject(env, params, n);
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
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  int timeout = ArgInt(info, 2, "timeout");
  DomRef d = c.Domain(env, uuid);
  if (virDomainAgentSetResponseTimeout(d.get(), timeout, ArgFlags(info, 3)) < 0)
    c.Fail(env, "virDomainAgentSetResponseTimeout", &uuid);
  return env.Undefined();
}

}  // namespace

void RegisterAgentFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("qemuAgentCommand", Napi::Function::New(env, QemuAgentCommand, "qemuAgentCommand"));
  exports.Set("getGuestInfo", Napi::Function::New(env, GetGuestInfo, "getGuestInfo"));
  exports.Set("agentSetResponseTimeout", Napi::Function::New(env, AgentSetResponseTimeout, "agentSetResponseTimeout"));
  exports.Set("getGuestVcpus", Napi::Function::New(env, GetGuestVcpus, "getGuestVcpus"));
}

}  // namespace virt
