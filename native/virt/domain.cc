// Domain calls: listing and lookup, define/create, lifecycle actions with flags, device hotplug, memory
// and vCPU changes, block threshold, XML, state and control info, metadata. Each takes (conn, uuid, ...) and holds a connection reference throughout.
#include "virt.h"

namespace virt {

namespace {

using Action = int (*)(virDomainPtr, unsigned int);

int Create(virDomainPtr d, unsigned int f) { return virDomainCreateWithFlags(d, f); }
int Suspend(virDomainPtr d, unsigned int) { return virDomainSuspend(d); }
int Resume(virDomainPtr d, unsigned int) { return virDomainResume(d); }
int Reboot(virDomainPtr d, unsigned int f) { return virDomainReboot(d, f); }
int Reset(virDomainPtr d, unsigned int f) { return virDomainReset(d, f); }
int Destroy(virDomainPtr d, unsigned int f) { return virDomainDestroyFlags(d, f); }
int Shutdown(virDomainPtr d, unsigned int f) { return virDomainShutdownFlags(d, f); }
int Undefine(virDomainPtr d, unsigned int f) { return virDomainUndefineFlags(d, f); }

// fn(conn, uuid, flags?) -> undefined, for the actions above.
template <Action A>
Napi::Value DomainAction(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  unsigned int flags = ArgFlags(info, 2);
  DomRef d = c.Domain(env, uuid);
  if (A(d.get(), flags) < 0) c.Fail(env, "domain action", &uuid);
  if (A == Undefine) c.Forget(uuid);
  return env.Undefined();
}

using XmlAction = int (*)(virDomainPtr, const char*, unsigned int);

// fn(conn, uuid, xml, flags?) for device hotplug: attachDeviceFlags, detachDeviceFlags, updateDeviceFlags.
template <XmlAction A>
Napi::Value DomainXmlAction(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string xml = ArgStr(info, 2, "xml");
  DomRef d = c.Domain(env, uuid);
  if (A(d.get(), xml.c_str(), ArgFlags(info, 3)) < 0) c.Fail(env, "device update", &uuid);
  return env.Undefined();
}

// setMemoryFlags(conn, uuid, memoryKiB, flags?)
Napi::Value SetMemoryFlags(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  if (info.Length() < 3 || !info[2].IsNumber()) throw ArgError(env, "memoryKiB must be a number");
  unsigned long kib = static_cast<unsigned long>(info[2].As<Napi::Number>().DoubleValue());
  DomRef d = c.Domain(env, uuid);
  if (virDomainSetMemoryFlags(d.get(), kib, ArgFlags(info, 3)) < 0) c.Fail(env, "virDomainSetMemoryFlags", &uuid);
  return env.Undefined();
}

// setVcpusFlags(conn, uuid, count, flags?)
Napi::Value SetVcpusFlags(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  int count = ArgInt(info, 2, "count");
  DomRef d = c.Domain(env, uuid);
  if (virDomainSetVcpusFlags(d.get(), static_cast<unsigned int>(count), ArgFlags(info, 3)) < 0) c.Fail(env, "virDomainSetVcpusFlags", &uuid);
  return env.Undefined();
}

// setBlockThreshold(conn, uuid, dev, thresholdBytes, flags?) -> a BLOCK_THRESHOLD event when crossed
Napi::Value SetBlockThreshold(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string dev = ArgStr(info, 2, "dev");
  if (info.Length() < 4 || !info[3].IsNumber()) throw ArgError(env, "threshold must be a number");
  auto threshold = static_cast<unsigned long long>(info[3].As<Napi::Number>().DoubleValue());
  DomRef d = c.Domain(env, uuid);
  if (virDomainSetBlockThreshold(d.get(), dev.c_str(), threshold, ArgFlags(info, 4)) < 0) c.Fail(env, "virDomainSetBlockThreshold", &uuid);
  return env.Undefined();
}

// listAllDomains(conn, flags?, withState = true) -> [{ uuid, name, id, state?, reason? }]
Napi::Value ListAllDomains(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  unsigned int flags = ArgFlags(info, 1);
  bool withState = info.Length() < 3 || info[2].ToBoolean();
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains(c.get(), &doms, flags);
  if (n < 0) c.Fail(env, "virConnectListAllDomains");
  auto out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    Napi::Object o = DomainSummary(env, doms[i]);
    if (withState) {
      // One call per domain (a round trip on remote URIs): bulk state comes cheaper from
      // getAllDomainStats(STATE). A domain that vanished meanwhile reports state -1.
      int state = -1, reason = -1;
      if (virDomainGetState(doms[i], &state, &reason, 0) < 0) state = reason = -1;
      o.Set("state", state);
      o.Set("reason", reason);
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  if (flags == 0) c.ReplaceCache(doms, n);
  for (int i = 0; i < n; i++) virDomainFree(doms[i]);
  free(doms);
  return out;
}

// lookupByUUID(conn, uuid) -> { uuid, name, id }
Napi::Value LookupByUUID(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  // Always ask libvirt (not the cache): callers use lookup to learn whether the domain exists now.
  virDomainPtr d = virDomainLookupByUUIDString(c.get(), uuid.c_str());
  if (!d) c.Fail(env, "virDomainLookupByUUIDString", &uuid);
  DomRef ref(d);
  c.Remember(d);
  return DomainSummary(env, d);
}

// lookupByName(conn, name) -> { uuid, name, id }
Napi::Value LookupByName(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string name = ArgStr(info, 1, "name");
  virDomainPtr d = virDomainLookupByName(c.get(), name.c_str());
  if (!d) c.Fail(env, "virDomainLookupByName");
  DomRef ref(d);
  c.Remember(d);
  return DomainSummary(env, d);
}

// createXML(conn, xml, flags?) / defineXML(conn, xml, flags?) -> { uuid, name, id }
template <bool Define>
Napi::Value FromXML(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string xml = ArgStr(info, 1, "xml");
  unsigned int flags = ArgFlags(info, 2);
  virDomainPtr d = Define ? virDomainDefineXMLFlags(c.get(), xml.c_str(), flags) : virDomainCreateXML(c.get(), xml.c_str(), flags);
  if (!d) c.Fail(env, Define ? "virDomainDefineXMLFlags" : "virDomainCreateXML");
  DomRef ref(d);
  c.Remember(d);
  return DomainSummary(env, d);
}

// xmlDesc(conn, uuid, flags?) -> string
Napi::Value XMLDesc(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  char* xml = virDomainGetXMLDesc(d.get(), ArgFlags(info, 2));
  if (!xml) c.Fail(env, "virDomainGetXMLDesc", &uuid);
  return TakeString(env, xml);
}

// state(conn, uuid) -> { state, reason }
Napi::Value State(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  int state = 0, reason = 0;
  if (virDomainGetState(d.get(), &state, &reason, 0) < 0) c.Fail(env, "virDomainGetState", &uuid);
  auto o = Napi::Object::New(env);
  o.Set("state", state);
  o.Set("reason", reason);
  return o;
}

// controlInfo(conn, uuid) -> { state, details, stateTime }
Napi::Value ControlInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  virDomainControlInfo ci;
  if (virDomainGetControlInfo(d.get(), &ci, 0) < 0) c.Fail(env, "virDomainGetControlInfo", &uuid);
  auto o = Napi::Object::New(env);
  o.Set("state", ci.state);
  o.Set("details", ci.details);
  o.Set("stateTime", static_cast<double>(ci.stateTime));
  return o;
}

// getMetadata(conn, uuid, type, uri?, flags?) -> string | null (null when there is no such metadata)
Napi::Value GetMetadata(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  int type = ArgInt(info, 2, "type");
  bool hasUri = false;
  std::string uri = ArgOptStr(info, 3, &hasUri);
  DomRef d = c.Domain(env, uuid);
  char* md = virDomainGetMetadata(d.get(), type, hasUri ? uri.c_str() : nullptr, ArgFlags(info, 4));
  if (!md) {
    if (LastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA) return env.Null();
    c.Fail(env, "virDomainGetMetadata", &uuid);
  }
  return TakeString(env, md);
}

// setMetadata(conn, uuid, type, metadata|null, key|null, uri|null, flags?)
Napi::Value SetMetadata(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  int type = ArgInt(info, 2, "type");
  bool hasMd = false, hasKey = false, hasUri = false;
  std::string md = ArgOptStr(info, 3, &hasMd);
  std::string key = ArgOptStr(info, 4, &hasKey);
  std::string uri = ArgOptStr(info, 5, &hasUri);
  DomRef d = c.Domain(env, uuid);
  if (virDomainSetMetadata(d.get(), type, hasMd ? md.c_str() : nullptr, hasKey ? key.c_str() : nullptr,
                           hasUri ? uri.c_str() : nullptr, ArgFlags(info, 6)) < 0)
    c.Fail(env, "virDomainSetMetadata", &uuid);
  return env.Undefined();
}

}  // namespace

void RegisterDomainFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("listAllDomains", Napi::Function::New(env, ListAllDomains, "listAllDomains"));
  exports.Set("lookupByUUID", Napi::Function::New(env, LookupByUUID, "lookupByUUID"));
  exports.Set("lookupByName", Napi::Function::New(env, LookupByName, "lookupByName"));
  exports.Set("createXML", Napi::Function::New(env, FromXML<false>, "createXML"));
  exports.Set("defineXML", Napi::Function::New(env, FromXML<true>, "defineXML"));
  exports.Set("create", Napi::Function::New(env, DomainAction<Create>, "create"));
  exports.Set("suspend", Napi::Function::New(env, DomainAction<Suspend>, "suspend"));
  exports.Set("resume", Napi::Function::New(env, DomainAction<Resume>, "resume"));
  exports.Set("reboot", Napi::Function::New(env, DomainAction<Reboot>, "reboot"));
  exports.Set("reset", Napi::Function::New(env, DomainAction<Reset>, "reset"));
  exports.Set("destroy", Napi::Function::New(env, DomainAction<Destroy>, "destroy"));
  exports.Set("shutdown", Napi::Function::New(env, DomainAction<Shutdown>, "shutdown"));
  exports.Set("undefine", Napi::Function::New(env, DomainAction<Undefine>, "undefine"));
  exports.Set("attachDeviceFlags", Napi::Function::New(env, DomainXmlAction<virDomainAttachDeviceFlags>, "attachDeviceFlags"));
  exports.Set("detachDeviceFlags", Napi::Function::New(env, DomainXmlAction<virDomainDetachDeviceFlags>, "detachDeviceFlags"));
  exports.Set("updateDeviceFlags", Napi::Function::New(env, DomainXmlAction<virDomainUpdateDeviceFlags>, "updateDeviceFlags"));
  exports.Set("setMemoryFlags", Napi::Function::New(env, SetMemoryFlags, "setMemoryFlags"));
  exports.Set("setVcpusFlags", Napi::Function::New(env, SetVcpusFlags, "setVcpusFlags"));
  exports.Set("setBlockThreshold", Napi::Function::New(env, SetBlockThreshold, "setBlockThreshold"));
  exports.Set("xmlDesc", Napi::Function::New(env, XMLDesc, "xmlDesc"));
  exports.Set("state", Napi::Function::New(env, State, "state"));
  exports.Set("controlInfo", Napi::Function::New(env, ControlInfo, "controlInfo"));
  exports.Set("getMetadata", Napi::Function::New(env, GetMetadata, "getMetadata"));
  exports.Set("setMetadata", Napi::Function::New(env, SetMetadata, "setMetadata"));
}

}  // namespace virt
