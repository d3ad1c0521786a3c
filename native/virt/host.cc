// Host-level calls: capabilities, domain capabilities, node info and CPU / memory counters, hostname
// and versions.
#include "virt.h"

namespace virt {

namespace {

Napi::Value GetCapabilities(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  char* xml = virConnectGetCapabilities(c.get());
  if (!xml) c.Fail(env, "virConnectGetCapabilities");
  return TakeString(env, xml);
}

// getDomainCapabilities(conn, emulatorbin?, arch?, machine?, virttype?, flags?) -> XML
Napi::Value GetDomainCapabilities(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  bool h[4];
  std::string s[4];
  for (int i = 0; i < 4; i++) s[i] = ArgOptStr(info, 1 + i, &h[i]);
  auto p = [&](int i) { return h[i] ? s[i].c_str() : nullptr; };
  char* xml = virConnectGetDomainCapabilities(c.get(), p(0), p(1), p(2), p(3), ArgFlags(info, 5));
  if (!xml) c.Fail(env, "virConnectGetDomainCapabilities");
  return TakeString(env, xml);
}

// nodeGetInfo(conn) -> { model, memoryKiB, cpus, mhz, nodes, sockets, cores, threads }
Napi::Value NodeGetInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  virNodeInfo ni;
  if (virNodeGetInfo(c.get(), &ni) < 0) c.Fail(env, "virNodeGetInfo");
  auto o = Napi::Object::New(env);
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

// nodeGetCPUStats(conn, cpuNum = -1 (all), flags?) -> { kernel, user, idle, iowait, ... } (ns)
Napi::Value NodeGetCPUStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  int cpu = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : VIR_NODE_CPU_STATS_ALL_CPUS;
  unsigned int flags = ArgFlags(info, 2);
  int n = 0;
  if (virNodeGetCPUStats(c.get(), cpu, nullptr, &n, flags) < 0) c.Fail(env, "virNodeGetCPUStats");
  std::vector<virNodeCPUStats> st(n > 0 ? n : 1);
  if (n > 0 && virNodeGetCPUStats(c.get(), cpu, st.data(), &n, flags) < 0) c.Fail(env, "virNodeGetCPUStats");
  auto o = Napi::Object::New(env);
  for (int i = 0; i < n; i++) o.Set(st[i].field, static_cast<double>(st[i].value));
  return o;
}

// nodeGetMemoryStats(conn, cell = -1 (all), flags?) -> { total, free, buffers, cached } (KiB)
Napi::Value NodeGetMemoryStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  int cell = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : VIR_NODE_MEMORY_STATS_ALL_CELLS;
  unsigned int flags = ArgFlags(info, 2);
  int n = 0;
  if (virNodeGetMemoryStats(c.get(), cell, nullptr, &n, flags) < 0) c.Fail(env, "virNodeGetMemoryStats");
  std::vector<virNodeMemoryStats> st(n > 0 ? n : 1);
  if (n > 0 && virNodeGetMemoryStats(c.get(), cell, st.data(), &n, flags) < 0) c.Fail(env, "virNodeGetMemoryStats");
  auto o = Napi::Object::New(env);
  for (int i = 0; i < n; i++) o.Set(st[i].field, static_cast<double>(st[i].value));
  return o;
}

Napi::Value GetHostname(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  char* name = virConnectGetHostname(c.get());
  if (!name) c.Fail(env, "virConnectGetHostname");
  return TakeString(env, name);
}

// getLibVersion(conn): the daemon's libvirt version (a cheap round trip: vdsm's liveness ping)
Napi::Value GetLibVersion(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  unsigned long v = 0;
  if (virConnectGetLibVersion(c.get(), &v) < 0) c.Fail(env, "virConnectGetLibVersion");
  return Napi::Number::New(env, static_cast<double>(v));
}

// getVersion(conn): the hypervisor's version
Napi::Value GetVersion(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  unsigned long v = 0;
  if (virConnectGetVersion(c.get(), &v) < 0) c.Fail(env, "virConnectGetVersion");
  return Napi::Number::New(env, static_cast<double>(v));
}

// libVersion(): the client library's version, no connection needed
Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  unsigned long v = 0;
  virGetVersion(&v, nullptr, nullptr);
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

}  // namespace

void RegisterHostFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("getCapabilities", Napi::Function::New(env, GetCapabilities, "getCapabilities"));
  exports.Set("getDomainCapabilities", Napi::Function::New(env, GetDomainCapabilities, "getDomainCapabilities"));
  exports.Set("nodeGetInfo", Napi::Function::New(env, NodeGetInfo, "nodeGetInfo"));
  exports.Set("nodeGetCPUStats", Napi::Function::New(env, NodeGetCPUStats, "nodeGetCPUStats"));
  exports.Set("nodeGetMemoryStats", Napi::Function::New(env, NodeGetMemoryStats, "nodeGetMemoryStats"));
  exports.Set("getHostname", Napi::Function::New(env, GetHostname, "getHostname"));
  exports.Set("getLibVersion", Napi::Function::New(env, GetLibVersion, "getLibVersion"));
  exports.Set("getVersion", Napi::Function::New(env, GetVersion, "getVersion"));
  exports.Set("libVersion", Napi::Function::New(env, LibVersion, "libVersion"));
}

}  // namespace virt
