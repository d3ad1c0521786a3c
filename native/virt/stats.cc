// Statistics: bulk domain stats (all domains, or a list of UUIDs) as plain objects with libvirt's flat
// keys, and the per-domain block, memory, interface and vCPU figures.
#include "virt.h"

namespace virt {

namespace {

Napi::Array RecordsToArray(Napi::Env env, virDomainStatsRecordPtr* records, int n) {
  auto out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    Napi::Object o = DomainSummary(env, records[i]->dom);
    o.Set("stats", TypedParamsToObject(env, records[i]->params, records[i]->nparams));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// getAllDomainStats(conn, stats, flags?) -> [{ uuid, name, id, stats: { 'state.state': 1, ... } }]
Napi::Value GetAllDomainStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  unsigned int stats = ArgFlags(info, 1);
  unsigned int flags = ArgFlags(info, 2);
  virDomainStatsRecordPtr* records = nullptr;
  int n = virConnectGetAllDomainStats(c.get(), stats, &records, flags);
  if (n < 0) c.Fail(env, "virConnectGetAllDomainStats");
  Napi::Array out = RecordsToArray(env, records, n);
  virDomainStatsRecordListFree(records);
  return out;
}

// domainListGetStats(conn, uuids, stats, flags?) -> records for the UUIDs that exist; unknown UUIDs
// are skipped (a VM that went away between listing and sampling is not an error for a sampler).
Napi::Value DomainListGetStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  if (info.Length() < 2 || !info[1].IsArray()) throw ArgError(env, "uuids must be an array of strings");
  Napi::Array uuids = info[1].As<Napi::Array>();
  unsigned int stats = ArgFlags(info, 2);
  unsigned int flags = ArgFlags(info, 3);
  std::vector<DomRef> refs;
  refs.reserve(uuids.Length());
  for (uint32_t i = 0; i < uuids.Length(); i++) {
    Napi::Value u = uuids.Get(i);
    if (!u.IsString()) throw ArgError(env, "uuids must be an array of strings");
    try {
      refs.push_back(c.Domain(env, u.As<Napi::String>().Utf8Value()));
    } catch (const Napi::Error&) {
      if (LastErrorCode() != VIR_ERR_NO_DOMAIN) throw;
    }
  }
  if (refs.empty()) return Napi::Array::New(env, 0);
  std::vector<virDomainPtr> doms;
  for (auto& r : refs) doms.push_back(r.get());
  doms.push_back(nullptr);  // the list is NULL-terminated
  virDomainStatsRecordPtr* records = nullptr;
  int n = virDomainListGetStats(doms.data(), stats, &records, flags);
  if (n < 0) c.Fail(env, "virDomainListGetStats");
  Napi::Array out = RecordsToArray(env, records, n);
  virDomainStatsRecordListFree(records);
  return out;
}

// blockInfo(conn, uuid, disk, flags?) -> { capacity, allocation, physical }
Napi::Value BlockInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string disk = ArgStr(info, 2, "disk");
  DomRef d = c.Domain(env, uuid);
  virDomainBlockInfo bi;
  if (virDomainGetBlockInfo(d.get(), disk.c_str(), &bi, ArgFlags(info, 3)) < 0) c.Fail(env, "virDomainGetBlockInfo", &uuid);
  auto o = Napi::Object::New(env);
  o.Set("capacity", static_cast<double>(bi.capacity));
  o.Set("allocation", static_cast<double>(bi.allocation));
  o.Set("physical", static_cast<double>(bi.physical));
  return o;
}

const char* MemoryTagName(int tag) {
  switch (tag) {
    case VIR_DOMAIN_MEMORY_STAT_SWAP_IN: return "swap_in";
    case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT: return "swap_out";
    case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT: return "major_fault";
    case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT: return "minor_fault";
    case VIR_DOMAIN_MEMORY_STAT_UNUSED: return "unused";
    case VIR_DOMAIN_MEMORY_STAT_AVAILABLE: return "available";
    case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: return "actual";
    case VIR_DOMAIN_MEMORY_STAT_RSS: return "rss";
    case VIR_DOMAIN_MEMORY_STAT_USABLE: return "usable";
    case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE: return "last_update";
    case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES: return "disk_caches";
    case VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC: return "hugetlb_pgalloc";
    case VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL: return "hugetlb_pgfail";
    default: return nullptr;
  }
}

// memoryStats(conn, uuid, flags?) -> { actual, rss, unused, available, usable, ... } (KiB; names as libvirt-python)
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
  int n = virDomainMemoryStats(d.get(), st, VIR_DOMAIN_MEMORY_STAT_NR, ArgFlags(info, 2));
  if (n < 0) c.Fail(env, "virDomainMemoryStats", &uuid);
  auto o = Napi::Object::New(env);
  for (int i = 0; i < n; i++) {
    const char* name = MemoryTagName(st[i].tag);
    if (name) o.Set(name, static_cast<double>(st[i].val));
  }
  return o;
}

// blockStats(conn, uuid, disk) -> { rdReq, rdBytes, wrReq, wrBytes, errs } (-1 = not available)
Napi::Value BlockStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string disk = ArgStr(info, 2, "disk");
  DomRef d = c.Domain(env, uuid);
  virDomainBlockStatsStruct st;
  if (virDomainBlockStats(d.get(), disk.c_str(), &st, sizeof st) < 0) c.Fail(env, "virDomainBlockStats", &uuid);
  auto o = Napi::Object::New(env);
  o.Set("rdReq", static_cast<double>(st.rd_req));
  o.Set("rdBytes", static_cast<double>(st.rd_bytes));
  o.Set("wrReq", static_cast<double>(st.wr_req));
  o.Set("wrBytes", static_cast<double>(st.wr_bytes));
  o.Set("errs", static_cast<double>(st.errs));
  return o;
}

// interfaceStats(conn, uuid, device) -> { rxBytes, rxPackets, rxErrs, rxDrop, txBytes, txPackets, txErrs, txDrop }
Napi::Value InterfaceStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string dev = ArgStr(info, 2, "device");
  DomRef d = c.Domain(env, uuid);
  virDomainInterfaceStatsStruct st;
  if (virDomainInterfaceStats(d.get(), dev.c_str(), &st, sizeof st) < 0) c.Fail(env, "virDomainInterfaceStats", &uuid);
  auto o = Napi::Object::New(env);
  o.Set("rxBytes", static_cast<double>(st.rx_bytes));
  o.Set("rxPackets", static_cast<double>(st.rx_packets));
  o.Set("rxErrs", static_cast<double>(st.rx_errs));
  o.Set("rxDrop", static_cast<double>(st.rx_drop));
  o.Set("txBytes", static_cast<double>(st.tx_bytes));
  o.Set("txPackets", static_cast<double>(st.tx_packets));
  o.Set("txErrs", static_cast<double>(st.tx_errs));
  o.Set("txDrop", static_cast<double>(st.tx_drop));
  return o;
}

// vcpus(conn, uuid) -> [{ number, state, cpuTime, cpu }]
Napi::Value Vcpus(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  virDomainInfo di;
  if (virDomainGetInfo(d.get(), &di) < 0) c.Fail(env, "virDomainGetInfo", &uuid);
  std::vector<virVcpuInfo> vi(di.nrVirtCpu > 0 ? di.nrVirtCpu : 1);
  int n = virDomainGetVcpus(d.get(), vi.data(), static_cast<int>(vi.size()), nullptr, 0);
  if (n < 0) c.Fail(env, "virDomainGetVcpus", &uuid);
  auto out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    auto o = Napi::Object::New(env);
    o.Set("number", vi[i].number);
    o.Set("state", vi[i].state);
    o.Set("cpuTime", static_cast<double>(vi[i].cpuTime));
    o.Set("cpu", vi[i].cpu);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

}  // namespace

void RegisterStatsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("getAllDomainStats", Napi::Function::New(env, GetAllDomainStats, "getAllDomainStats"));
  exports.Set("domainListGetStats", Napi::Function::New(env, DomainListGetStats, "domainListGetStats"));
  exports.Set("blockInfo", Napi::Function::New(env, BlockInfo, "blockInfo"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats, "memoryStats"));
  exports.Set("blockStats", Napi::Function::New(env, BlockStats, "blockStats"));
  exports.Set("interfaceStats", Napi::Function::New(env, InterfaceStats, "interfaceStats"));
  exports.Set("vcpus", Napi::Function::New(env, Vcpus, "vcpus"));
}

}  // namespace virt
