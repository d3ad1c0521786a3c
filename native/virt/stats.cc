// Statistics: bulk domain stats (all domains, or a list of UUIDs) as plain objects with libvirt's flat
// keys, and the per-domain block, memory, interface and vCPU figures.
#include "virt.h"

#include <utility>

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

/** Converts and frees a record list (n < 0: the call failed, nothing to free). */
Napi::Value TakeRecords(Call& call, virDomainStatsRecordPtr* records, int n, const char* what) {
  if (n < 0) call.Fail(what);
  Napi::Array out = RecordsToArray(call.env(), records, n);
  virDomainStatsRecordListFree(records);
  return out;
}

// getAllDomainStats(conn, stats, flags?) -> [{ uuid, name, id, stats: { 'state.state': 1, ... } }]
Napi::Value GetAllDomainStats(const Napi::CallbackInfo& info) {
  Call call(info);
  unsigned int stats = call.Flags(1);
  unsigned int flags = call.Flags(2);
  virDomainStatsRecordPtr* records = nullptr;
  int n = call.Run([&] { return virConnectGetAllDomainStats(call.conn(), stats, &records, flags); });
  return TakeRecords(call, records, n, "virConnectGetAllDomainStats");
}

// domainListGetStats(conn, uuids, stats, flags?) -> records for the UUIDs that exist; unknown UUIDs
// are skipped (a VM that went away between listing and sampling is not an error for a sampler).
Napi::Value DomainListGetStats(const Napi::CallbackInfo& info) {
  Call call(info);
  auto env = call.env();
  if (!call.Arg(1).IsArray()) throw ArgError(env, "uuids must be an array of strings");
  Napi::Array uuids = call.Arg(1).As<Napi::Array>();
  unsigned int stats = call.Flags(2);
  unsigned int flags = call.Flags(3);
  std::vector<DomRef> refs;
  refs.reserve(uuids.Length());
  for (uint32_t i = 0; i < uuids.Length(); i++) {
    Napi::Value u = uuids.Get(i);
    if (!u.IsString()) throw ArgError(env, "uuids must be an array of strings");
    try {
      refs.push_back(call.ref().Domain(env, u.As<Napi::String>().Utf8Value()));
    } catch (const Napi::Error&) {
      if (LastErrorCode() != VIR_ERR_NO_DOMAIN) throw;
    }
  }
  if (refs.empty()) return Napi::Array::New(env, 0);
  std::vector<virDomainPtr> doms;
  for (auto& r : refs) doms.push_back(r.get());
  doms.push_back(nullptr);  // the list is NULL-terminated
  virDomainStatsRecordPtr* records = nullptr;
  int n = call.Run([&] { return virDomainListGetStats(doms.data(), stats, &records, flags); });
  return TakeRecords(call, records, n, "virDomainListGetStats");
}

/** A plain object from (name, value) pairs of unsigned or signed 64-bit counters. */
template <class T>
Napi::Object Counters(Napi::Env env, std::initializer_list<std::pair<const char*, T>> fields) {
  auto o = Napi::Object::New(env);
  for (const auto& [name, value] : fields) o.Set(name, static_cast<double>(value));
  return o;
}

// blockInfo(conn, uuid, disk, flags?) -> { capacity, allocation, physical }
Napi::Value BlockInfo(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string disk = call.Str(2, "disk");
  unsigned int flags = call.Flags(3);
  virDomainBlockInfo bi;
  if (call.Run([&] { return virDomainGetBlockInfo(call.dom(), disk.c_str(), &bi, flags); }) < 0) call.Fail("virDomainGetBlockInfo");
  return Counters<unsigned long long>(call.env(), {{"capacity", bi.capacity}, {"allocation", bi.allocation}, {"physical", bi.physical}});
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
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
  int n = call.Run([&] { return virDomainMemoryStats(call.dom(), st, VIR_DOMAIN_MEMORY_STAT_NR, flags); });
  if (n < 0) call.Fail("virDomainMemoryStats");
  auto o = Napi::Object::New(call.env());
  for (int i = 0; i < n; i++) {
    const char* name = MemoryTagName(st[i].tag);
    if (name) o.Set(name, static_cast<double>(st[i].val));
  }
  return o;
}

// blockStats(conn, uuid, disk) -> { rdReq, rdBytes, wrReq, wrBytes, errs } (-1 = not available)
Napi::Value BlockStats(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string disk = call.Str(2, "disk");
  virDomainBlockStatsStruct st;
  if (call.Run([&] { return virDomainBlockStats(call.dom(), disk.c_str(), &st, sizeof st); }) < 0) call.Fail("virDomainBlockStats");
  return Counters<long long>(call.env(), {{"rdReq", st.rd_req}, {"rdBytes", st.rd_bytes}, {"wrReq", st.wr_req}, {"wrBytes", st.wr_bytes}, {"errs", st.errs}});
}

// interfaceStats(conn, uuid, device) -> { rxBytes, rxPackets, rxErrs, rxDrop, txBytes, txPackets, txErrs, txDrop }
Napi::Value InterfaceStats(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string dev = call.Str(2, "device");
  virDomainInterfaceStatsStruct st;
  if (call.Run([&] { return virDomainInterfaceStats(call.dom(), dev.c_str(), &st, sizeof st); }) < 0) call.Fail("virDomainInterfaceStats");
  return Counters<long long>(call.env(), {{"rxBytes", st.rx_bytes}, {"rxPackets", st.rx_packets}, {"rxErrs", st.rx_errs}, {"rxDrop", st.rx_drop},
                                          {"txBytes", st.tx_bytes}, {"txPackets", st.tx_packets}, {"txErrs", st.tx_errs}, {"txDrop", st.tx_drop}});
}

// vcpus(conn, uuid) -> [{ number, state, cpuTime, cpu }]
Napi::Value Vcpus(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  virDomainInfo di;
  if (call.Run([&] { return virDomainGetInfo(call.dom(), &di); }) < 0) call.Fail("virDomainGetInfo");
  std::vector<virVcpuInfo> vi(di.nrVirtCpu > 0 ? di.nrVirtCpu : 1);
  int n = call.Run([&] { return virDomainGetVcpus(call.dom(), vi.data(), static_cast<int>(vi.size()), nullptr, 0); });
  if (n < 0) call.Fail("virDomainGetVcpus");
  auto out = Napi::Array::New(call.env(), n);
  for (int i = 0; i < n; i++) {
    auto o = Napi::Object::New(call.env());
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
  ExportAll(env, exports, {
      {"getAllDomainStats", GetAllDomainStats},
      {"domainListGetStats", DomainListGetStats},
      {"blockInfo", BlockInfo},
      {"memoryStats", MemoryStats},
      {"blockStats", BlockStats},
      {"interfaceStats", InterfaceStats},
      {"vcpus", Vcpus},
  });
}

}  // namespace virt
