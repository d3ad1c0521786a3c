// Host-level calls: capabilities, domain capabilities, node info and CPU / memory counters, hostname
// and versions.
#include "virt.h"

namespace virt {

namespace {

using StringQuery = char* (*)(virConnectPtr);
using VersionQuery = int (*)(virConnectPtr, unsigned long*);

// getCapabilities(conn) / getHostname(conn) -> string
template <StringQuery Q>
Napi::Value ConnString(const Napi::CallbackInfo& info) {
  Call call(info);
  char* s = call.Run([&] { return Q(call.conn()); });
  if (!s) call.Fail(Q == virConnectGetCapabilities ? "virConnectGetCapabilities" : "virConnectGetHostname");
  return TakeString(call.env(), s);
}

// getLibVersion(conn): the daemon's libvirt version (a cheap round trip: vdsm's liveness ping);
// getVersion(conn): the hypervisor's version
template <VersionQuery Q>
Napi::Value ConnVersion(const Napi::CallbackInfo& info) {
  Call call(info);
  unsigned long v = 0;
  if (call.Run([&] { return Q(call.conn(), &v); }) < 0) call.Fail(Q == virConnectGetLibVersion ? "virConnectGetLibVersion" : "virConnectGetVersion");
  return Napi::Number::New(call.env(), static_cast<double>(v));
}

// getDomainCapabilities(conn, emulatorbin?, arch?, machine?, virttype?, flags?) -> XML
Napi::Value GetDomainCapabilities(const Napi::CallbackInfo& info) {
  Call call(info);
  const char* emulator = call.OptStr(1);
  const char* arch = call.OptStr(2);
  const char* machine = call.OptStr(3);
  const char* virttype = call.OptStr(4);
  unsigned int flags = call.Flags(5);
  char* xml = call.Run([&] { return virConnectGetDomainCapabilities(call.conn(), emulator, arch, machine, virttype, flags); });
  if (!xml) call.Fail("virConnectGetDomainCapabilities");
  return TakeString(call.env(), xml);
}

// nodeGetInfo(conn) -> { model, memoryKiB, cpus, mhz, nodes, sockets, cores, threads }
Napi::Value NodeGetInfo(const Napi::CallbackInfo& info) {
  Call call(info);
  virNodeInfo ni;
  if (call.Run([&] { return virNodeGetInfo(call.conn(), &ni); }) < 0) call.Fail("virNodeGetInfo");
  auto o = Napi::Object::New(call.env());
  o.Set("model", ni.model);
  o.Set("memoryKiB", static_cast<double>(ni.memory));
  o.Set("cpus", ni.cpus);
  o.Set("mhz", ni.mhz);
  o.Set("nodes", ni.nodes);
  o.Set("sockets", ni.sockets);
  o.Set("cores", ni.cores);
  o.Set("threads", ni.threads);
  return o;
}

/** virNodeGetCPUStats / virNodeGetMemoryStats: ask for the count, then the fields. */
template <class Stat, int (*Get)(virConnectPtr, int, Stat*, int*, unsigned int)>
Napi::Value NodeStats(const Napi::CallbackInfo& info, int all, const char* what) {
  Call call(info);
  int which = call.OptInt(1, all);
  unsigned int flags = call.Flags(2);
  int n = 0;
  if (call.Run([&] { return Get(call.conn(), which, nullptr, &n, flags); }) < 0) call.Fail(what);
  std::vector<Stat> st(n > 0 ? n : 1);
  if (n > 0 && call.Run([&] { return Get(call.conn(), which, st.data(), &n, flags); }) < 0) call.Fail(what);
  auto o = Napi::Object::New(call.env());
  for (int i = 0; i < n; i++) o.Set(st[i].field, static_cast<double>(st[i].value));
  return o;
}

// nodeGetCPUStats(conn, cpuNum = -1 (all), flags?) -> { kernel, user, idle, iowait, ... } (ns)
Napi::Value NodeGetCPUStats(const Napi::CallbackInfo& info) {
  return NodeStats<virNodeCPUStats, virNodeGetCPUStats>(info, VIR_NODE_CPU_STATS_ALL_CPUS, "virNodeGetCPUStats");
}

// nodeGetMemoryStats(conn, cell = -1 (all), flags?) -> { total, free, buffers, cached } (KiB)
Napi::Value NodeGetMemoryStats(const Napi::CallbackInfo& info) {
  return NodeStats<virNodeMemoryStats, virNodeGetMemoryStats>(info, VIR_NODE_MEMORY_STATS_ALL_CELLS, "virNodeGetMemoryStats");
}

// libVersion(): the client library's version, no connection needed
Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  unsigned long v = 0;
  virGetVersion(&v, nullptr, nullptr);
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

}  // namespace

void RegisterHostFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"getCapabilities", ConnString<virConnectGetCapabilities>},
      {"getDomainCapabilities", GetDomainCapabilities},
      {"nodeGetInfo", NodeGetInfo},
      {"nodeGetCPUStats", NodeGetCPUStats},
      {"nodeGetMemoryStats", NodeGetMemoryStats},
      {"getHostname", ConnString<virConnectGetHostname>},
      {"getLibVersion", ConnVersion<virConnectGetLibVersion>},
      {"getVersion", ConnVersion<virConnectGetVersion>},
      {"libVersion", LibVersion},
  });
}

}  // namespace virt
