// Domain calls: listing and lookup, define/create, lifecycle actions with flags, device hotplug, memory
// and vCPU changes, block threshold, XML, state and control info, metadata. Each takes (conn, uuid, ...)
// and holds a connection reference throughout (Call / DomainCall).
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
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  if (call.Run([&] { return A(call.dom(), flags); }) < 0) call.Fail("domain action");
  if (A == Undefine) call.ref().Forget(call.uuid());
  return call.env().Undefined();
}

using XmlAction = int (*)(virDomainPtr, const char*, unsigned int);

// fn(conn, uuid, xml, flags?) for device hotplug: attachDeviceFlags, detachDeviceFlags, updateDeviceFlags.
template <XmlAction A>
Napi::Value DomainXmlAction(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string xml = call.Str(2, "xml");
  unsigned int flags = call.Flags(3);
  if (call.Run([&] { return A(call.dom(), xml.c_str(), flags); }) < 0) call.Fail("device update");
  return call.env().Undefined();
}

// setMemoryFlags(conn, uuid, memoryKiB, flags?)
Napi::Value SetMemoryFlags(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  auto kib = static_cast<unsigned long>(call.Num(2, "memoryKiB"));
  unsigned int flags = call.Flags(3);
  if (call.Run([&] { return virDomainSetMemoryFlags(call.dom(), kib, flags); }) < 0) call.Fail("virDomainSetMemoryFlags");
  return call.env().Undefined();
}

// setVcpusFlags(conn, uuid, count, flags?)
Napi::Value SetVcpusFlags(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  auto count = static_cast<unsigned int>(call.Int(2, "count"));
  unsigned int flags = call.Flags(3);
  if (call.Run([&] { return virDomainSetVcpusFlags(call.dom(), count, flags); }) < 0) call.Fail("virDomainSetVcpusFlags");
  return call.env().Undefined();
}

// setBlockThreshold(conn, uuid, dev, thresholdBytes, flags?) -> a BLOCK_THRESHOLD event when crossed
Napi::Value SetBlockThreshold(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string dev = call.Str(2, "dev");
  auto threshold = static_cast<unsigned long long>(call.Num(3, "threshold"));
  unsigned int flags = call.Flags(4);
  if (call.Run([&] { return virDomainSetBlockThreshold(call.dom(), dev.c_str(), threshold, flags); }) < 0)
    call.Fail("virDomainSetBlockThreshold");
  return call.env().Undefined();
}

// listAllDomains(conn, flags?, withState = true) -> [{ uuid, name, id, state?, reason? }]
Napi::Value ListAllDomains(const Napi::CallbackInfo& info) {
  Call call(info);
  auto env = call.env();
  unsigned int flags = call.Flags(1);
  bool withState = info.Length() < 3 || info[2].ToBoolean();
  virDomainPtr* doms = nullptr;
  int n = call.Run([&] { return virConnectListAllDomains(call.conn(), &doms, flags); });
  if (n < 0) call.Fail("virConnectListAllDomains");
  auto out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    Napi::Object o = DomainSummary(env, doms[i]);
    if (withState) {
      // One call per domain (a round trip on remote URIs): bulk state comes cheaper from
      // getAllDomainStats(STATE). A domain that vanished meanwhile reports state -1.
      int state = -1, reason = -1;
      if (call.Run([&] { return virDomainGetState(doms[i], &state, &reason, 0); }) < 0) state = reason = -1;
      o.Set("state", state);
      o.Set("reason", reason);
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  if (flags == 0) call.ref().ReplaceCache(doms, n);
  for (int i = 0; i < n; i++) virDomainFree(doms[i]);
  free(doms);
  return out;
}

// lookupByUUID(conn, uuid) -> { uuid, name, id }; lookupByName(conn, name) -> the same
template <bool ByName>
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string key = call.Str(1, ByName ? "name" : "uuid");
  // Always ask libvirt (not the cache): callers use lookup to learn whether the domain exists now.
  virDomainPtr d = call.Run([&] {
    return ByName ? virDomainLookupByName(call.conn(), key.c_str()) : virDomainLookupByUUIDString(call.conn(), key.c_str());
  });
  if (!d) call.ref().Fail(call.env(), ByName ? "virDomainLookupByName" : "virDomainLookupByUUIDString", ByName ? nullptr : &key);
  DomRef ref(d);
  call.ref().Remember(d);
  return DomainSummary(call.env(), d);
}

// createXML(conn, xml, flags?) / defineXML(conn, xml, flags?) -> { uuid, name, id }
template <bool Define>
Napi::Value FromXML(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string xml = call.Str(1, "xml");
  unsigned int flags = call.Flags(2);
  virDomainPtr d = call.Run([&] {
    return Define ? virDomainDefineXMLFlags(call.conn(), xml.c_str(), flags) : virDomainCreateXML(call.conn(), xml.c_str(), flags);
  });
  if (!d) call.Fail(Define ? "virDomainDefineXMLFlags" : "virDomainCreateXML");
  DomRef ref(d);
  call.ref().Remember(d);
  return DomainSummary(call.env(), d);
}

// xmlDesc(conn, uuid, flags?) -> string
Napi::Value XMLDesc(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  char* xml = call.Run([&] { return virDomainGetXMLDesc(call.dom(), flags); });
  if (!xml) call.Fail("virDomainGetXMLDesc");
  return TakeString(call.env(), xml);
}

// state(conn, uuid) -> { state, reason }
Napi::Value State(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  int state = 0, reason = 0;
  if (call.Run([&] { return virDomainGetState(call.dom(), &state, &reason, 0); }) < 0) call.Fail("virDomainGetState");
  auto o = Napi::Object::New(call.env());
  o.Set("state", state);
  o.Set("reason", reason);
  return o;
}

// controlInfo(conn, uuid) -> { state, details, stateTime }
Napi::Value ControlInfo(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  virDomainControlInfo ci;
  if (call.Run([&] { return virDomainGetControlInfo(call.dom(), &ci, 0); }) < 0) call.Fail("virDomainGetControlInfo");
  auto o = Napi::Object::New(call.env());
  o.Set("state", ci.state);
  o.Set("details", ci.details);
  o.Set("stateTime", static_cast<double>(ci.stateTime));
  return o;
}

// getMetadata(conn, uuid, type, uri?, flags?) -> string | null (null when there is no such metadata)
Napi::Value GetMetadata(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  int type = call.Int(2, "type");
  const char* uri = call.OptStr(3);
  unsigned int flags = call.Flags(4);
  char* md = call.Run([&] { return virDomainGetMetadata(call.dom(), type, uri, flags); });
  if (!md) {
    if (LastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA) return call.env().Null();
    call.Fail("virDomainGetMetadata");
  }
  return TakeString(call.env(), md);
}

// setMetadata(conn, uuid, type, metadata|null, key|null, uri|null, flags?)
Napi::Value SetMetadata(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  int type = call.Int(2, "type");
  const char* md = call.OptStr(3);
  const char* key = call.OptStr(4);
  const char* uri = call.OptStr(5);
  unsigned int flags = call.Flags(6);
  if (call.Run([&] { return virDomainSetMetadata(call.dom(), type, md, key, uri, flags); }) < 0) call.Fail("virDomainSetMetadata");
  return call.env().Undefined();
}

}  // namespace

void RegisterDomainFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"listAllDomains", ListAllDomains},
      {"lookupByUUID", Lookup<false>},
      {"lookupByName", Lookup<true>},
      {"createXML", FromXML<false>},
      {"defineXML", FromXML<true>},
      {"create", DomainAction<Create>},
      {"suspend", DomainAction<Suspend>},
      {"resume", DomainAction<Resume>},
      {"reboot", DomainAction<Reboot>},
      {"reset", DomainAction<Reset>},
      {"destroy", DomainAction<Destroy>},
      {"shutdown", DomainAction<Shutdown>},
      {"undefine", DomainAction<Undefine>},
      {"attachDeviceFlags", DomainXmlAction<virDomainAttachDeviceFlags>},
      {"detachDeviceFlags", DomainXmlAction<virDomainDetachDeviceFlags>},
      {"updateDeviceFlags", DomainXmlAction<virDomainUpdateDeviceFlags>},
      {"setMemoryFlags", SetMemoryFlags},
      {"setVcpusFlags", SetVcpusFlags},
      {"setBlockThreshold", SetBlockThreshold},
      {"xmlDesc", XMLDesc},
      {"state", State},
      {"controlInfo", ControlInfo},
      {"getMetadata", GetMetadata},
      {"setMetadata", SetMetadata},
  });
}

}  // namespace virt
