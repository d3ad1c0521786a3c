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
  const char* what = Q == virConnectGetCapabilities ? "virConnectGetCapabilities" : "virConnectGetHostname";
  CStr s = call.Run(what, [](virConnectPtr c) { return CStr(Q(c)); });
  if (!s) call.Fail(what);
  return TakeString(call.env(), s.release());
}

// getLibVersion(conn): the daemon's libvirt version (a cheap round trip: vdsm's liveness ping);
// getVersion(conn): the hypervisor's version
template <VersionQuery Q>
Napi::Value ConnVersion(const Napi::CallbackInfo& info) {
  Call call(info);
  const char* what = Q == virConnectGetLibVersion ? "virConnectGetLibVersion" : "virConnectGetVersion";
  auto r = call.RunOut<unsigned long>(what, [](virConnectPtr c, unsigned long* v) { return Q(c, v); });
  if (r.rc < 0) call.Fail(what);
  return Napi::Number::New(call.env(), static_cast<double>(r.value));
}

// getDomainCapabilities(conn, emulatorbin?, arch?, machine?, virttype?, flags?) -> XML
Napi::Value GetDomainCapabilities(const Napi::CallbackInfo& info) {
  Call call(info);
  std::optional<std::string> emulator = call.OptString(1), arch = call.OptString(2), machine = call.OptString(3),
                             virttype = call.OptString(4);
  unsigned int flags = call.Flags(5);
  auto str = [](const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; };
  CStr xml = call.Run("virConnectGetDomainCapabilities", [emulator, arch, machine, virttype, flags, str](virConnectPtr c) {
    return CStr(virConnectGetDomainCapabilities(c, str(emulator), str(arch), str(machine), str(virttype), flags));
  });
  if (!xml) call.Fail("virConnectGetDomainCapabilities");
  return TakeString(call.env(), xml.release());
}

// nodeGetInfo(conn) -> { model, memoryKiB, cpus, mhz, nodes, sockets, cores, threads }
Napi::Value NodeGetInfo(const Napi::CallbackInfo& info) {
  Call call(info);
  auto r = call.RunOut<virNodeInfo>("virNodeGetInfo", [](virConnectPtr c, virNodeInfo* ni) { return virNodeGetInfo(c, ni); });
  if (r.rc < 0) call.Fail("virNodeGetInfo");
  const virNodeInfo& ni = r.value;
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
  struct Out {
    int rc = 0;
    int n = 0;
    std::vector<Stat> st;
  };
  // Both calls on the call thread: the count, then the fields.
  Out r = call.Run(what, [which, flags](virConnectPtr c) {
    Out o;
    o.rc = Get(c, which, nullptr, &o.n, flags);
    if (o.rc < 0) return o;
    o.st.resize(o.n > 0 ? o.n : 1);
    if (o.n > 0) o.rc = Get(c, which, o.st.data(), &o.n, flags);
    return o;
  });
  if (r.rc < 0) call.Fail(what);
  int n = r.n;
  const auto& st = r.st;
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
