// Guest-agent calls through libvirt (libvirt-qemu's qemuAgentCommand, getGuestInfo, getGuestVcpus, setTime, the
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
  CStr reply = call.Run("virDomainQemuAgentCommand",
                        [cmd, timeout, flags](virDomainPtr d) { return CStr(virDomainQemuAgentCommand(d, cmd.c_str(), timeout, flags)); });
  if (!reply) call.Fail("virDomainQemuAgentCommand");
  return TakeString(call.env(), reply.release());
}

// getGuestInfo(conn, uuid, types?, flags?) -> typed params as a flat object ("os.id", "fs.0.name", ...)
Napi::Value GetGuestInfo(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int types = call.Flags(2);
  unsigned int flags = call.Flags(3);
  struct Out {
    int rc = 0;
    TypedParams params;
  };
  Out r = call.Run("virDomainGetGuestInfo", [types, flags](virDomainPtr d) {
    Out o;
    o.rc = virDomainGetGuestInfo(d, types, o.params.params(), o.params.n(), flags);
    return o;
  });
  if (r.rc < 0) call.Fail("virDomainGetGuestInfo");
  return TypedParamsToObject(call.env(), r.params.get(), r.params.size());
}

// getGuestVcpus(conn, uuid, flags?) -> { vcpus, online, offlinable } CPU lists as the guest agent reports them
Napi::Value GetGuestVcpus(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  struct Out {
    int rc = 0;
    TypedParams params;
  };
  Out r = call.Run("virDomainGetGuestVcpus", [flags](virDomainPtr d) {
    Out o;
    unsigned int n = 0;
    o.rc = virDomainGetGuestVcpus(d, o.params.params(), &n, flags);
    *o.params.n() = static_cast<int>(n);
    return o;
  });
  if (r.rc < 0) call.Fail("virDomainGetGuestVcpus");
  return TypedParamsToObject(call.env(), r.params.get(), r.params.size());
}

// agentSetResponseTimeout(conn, uuid, timeoutSec, flags?)
Napi::Value AgentSetResponseTimeout(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  int timeout = call.Int(2, "timeout");
  unsigned int flags = call.Flags(3);
  if (call.Run("virDomainAgentSetResponseTimeout", [timeout, flags](virDomainPtr d) { return virDomainAgentSetResponseTimeout(d, timeout, flags); }) < 0)
    call.Fail("virDomainAgentSetResponseTimeout");
  return call.env().Undefined();
}

// setTime(conn, uuid, seconds, nseconds, flags?): virDomainSetTime, the guest's clock set through the QEMU
// guest agent (guest-set-time inside libvirtd, bounded by the agent response timeout). Seconds since the
// epoch as a double: an int would end in 2038.
Napi::Value SetTime(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  long long seconds = static_cast<long long>(call.Num(2, "seconds"));
  unsigned int nseconds = static_cast<unsigned int>(call.Int(3, "nseconds"));
  unsigned int flags = call.Flags(4);
  if (call.Run("virDomainSetTime", [seconds, nseconds, flags](virDomainPtr d) { return virDomainSetTime(d, seconds, nseconds, flags); }) < 0)
    call.Fail("virDomainSetTime");
  return call.env().Undefined();
}

}  // namespace

void RegisterAgentFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"qemuAgentCommand", QemuAgentCommand},
      {"getGuestInfo", GetGuestInfo},
      {"agentSetResponseTimeout", AgentSetResponseTimeout},
      {"getGuestVcpus", GetGuestVcpus},
      {"setTime", SetTime},
  });
}

}  // namespace virt
