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

/** A stats record list from libvirt, freed on scope exit (also on a call thread left alone). */
struct Records {
  virDomainStatsRecordPtr* list = nullptr;
  int n = -1;
  Records() = default;
  Records(Records&& o) noexcept : list(std::exchange(o.list, nullptr)), n(std::exchange(o.n, -1)) {}
  Records(const Records&) = delete;
  ~Records() { if (list) virDomainStatsRecordListFree(list); }
};

/** Converts a record list (n < 0: the call failed). */
Napi::Value TakeRecords(Call& call, const Records& r, const char* what) {
  if (r.n < 0) call.Fail(what);
  return RecordsToArray(call.env(), r.list, r.n);
}

// getAllDomainStats(conn, stats, flags?) -> [{ uuid, name, id, stats: { 'state.state': 1, ... } }]
Napi::Value GetAllDomainStats(const Napi::CallbackInfo& info) {
  Call call(info);
  unsigned int stats = call.Flags(1);
  unsigned int flags = call.Flags(2);
  Records r = call.Run("virConnectGetAllDomainStats", [stats, flags](virConnectPtr c) {
    Records out;
    out.n = virConnectGetAllDomainStats(c, stats, &out.list, flags);
    return out;
  });
  return TakeRecords(call, r, "virConnectGetAllDomainStats");
}

// domainListGetStats(conn, uuids, stats, flags?) -> records for the UUIDs that exist; unknown UUIDs
// are skipped (a VM that went away between listing and sampling is not an error for a sampler).
// Domains not in the connection's cache are looked up on the call thread within the same job: one
// trip to a call thread (one chain pass in the asynchronous entry) whatever the number of UUIDs.
Napi::Value DomainListGetStats(const Napi::CallbackInfo& info) {
  Call call(info);
  auto env = call.env();
  if (!call.Arg(1).IsArray()) throw ArgError(env, "uuids must be an array of strings");
  Napi::Array uuids = call.Arg(1).As<Napi::Array>();
  unsigned int stats = call.Flags(2);
  unsigned int flags = call.Flags(3);
  std::vector<DomRef> refs;
  std::vector<std::string> uncached;
  refs.reserve(uuids.Length());
  for (uint32_t i = 0; i < uuids.Length(); i++) {
    Napi::Value u = uuids.Get(i);
    if (!u.IsString()) throw ArgError(env, "uuids must be an array of strings");
    std::string uuid = u.As<Napi::String>().Utf8Value();
    if (DomRef d = call.ref().Cached(uuid); d.get()) refs.push_back(std::move(d));
    else uncached.push_back(std::move(uuid));
  }
  if (refs.empty() && uncached.empty()) return Napi::Array::New(env, 0);
  struct Out {
    Records records;
    std::vector<DomRef> found;  // looked up here, for the cache
    const char* failed = "virDomainListGetStats";
  };
  // The call thread owns the domain references it passes to libvirt.
  Out r = call.Run("virDomainListGetStats", [refs = std::move(refs), uncached = std::move(uncached), stats, flags](virConnectPtr c) mutable {
    Out out;
    for (const auto& uuid : uncached) {
      DomRef d(virDomainLookupByUUIDString(c, uuid.c_str()));
      if (d.get()) out.found.push_back(std::move(d));
      else if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        out.failed = "virDomainLookupByUUIDString";  // its error is the call's (n < 0)
        return out;
      }
    }
    if (refs.empty() && out.found.empty()) {
      out.records.n = 0;
      return out;
    }
    std::vector<virDomainPtr> doms;
    for (auto& ref : refs) doms.push_back(ref.get());
    for (auto& ref : out.found) doms.push_back(ref.get());
    doms.push_back(nullptr);  // the list is NULL-terminated
    out.records.n = virDomainListGetStats(doms.data(), stats, &out.records.list, flags);
    return out;
  });
  for (const auto& d : r.found) call.ref().Remember(d.get());
  return TakeRecords(call, r.records, r.failed);
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
  auto r = call.RunOut<virDomainBlockInfo>("virDomainGetBlockInfo",
                                           [disk, flags](virDomainPtr d, virDomainBlockInfo* bi) { return virDomainGetBlockInfo(d, disk.c_str(), bi, flags); });
  if (r.rc < 0) call.Fail("virDomainGetBlockInfo");
  const virDomainBlockInfo& bi = r.value;
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
  struct Out {
    int n = 0;
    virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
  };
  Out r = call.Run("virDomainMemoryStats", [flags](virDomainPtr d) {
    Out o;
    o.n = virDomainMemoryStats(d, o.st, VIR_DOMAIN_MEMORY_STAT_NR, flags);
    return o;
  });
  int n = r.n;
  const auto& st = r.st;
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
  auto r = call.RunOut<virDomainBlockStatsStruct>(
      "virDomainBlockStats", [disk](virDomainPtr d, virDomainBlockStatsStruct* st) { return virDomainBlockStats(d, disk.c_str(), st, sizeof *st); });
  if (r.rc < 0) call.Fail("virDomainBlockStats");
  const virDomainBlockStatsStruct& st = r.value;
  return Counters<long long>(call.env(), {{"rdReq", st.rd_req}, {"rdBytes", st.rd_bytes}, {"wrReq", st.wr_req}, {"wrBytes", st.wr_bytes}, {"errs", st.errs}});
}

// interfaceStats(conn, uuid, device) -> { rxBytes, rxPackets, rxErrs, rxDrop, txBytes, txPackets, txErrs, txDrop }
Napi::Value InterfaceStats(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string dev = call.Str(2, "device");
  auto r = call.RunOut<virDomainInterfaceStatsStruct>(
      "virDomainInterfaceStats", [dev](virDomainPtr d, virDomainInterfaceStatsStruct* st) { return virDomainInterfaceStats(d, dev.c_str(), st, sizeof *st); });
  if (r.rc < 0) call.Fail("virDomainInterfaceStats");
  const virDomainInterfaceStatsStruct& st = r.value;
  return Counters<long long>(call.env(), {{"rxBytes", st.rx_bytes}, {"rxPackets", st.rx_packets}, {"rxErrs", st.rx_errs}, {"rxDrop", st.rx_drop},
                                          {"txBytes", st.tx_bytes}, {"txPackets", st.tx_packets}, {"txErrs", st.tx_errs}, {"txDrop", st.tx_drop}});
}

// vcpus(conn, uuid) -> [{ number, state, cpuTime, cpu }]
Napi::Value Vcpus(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  struct Out {
    const char* failed = nullptr;  // the call that failed, if any
    int n = 0;
    std::vector<virVcpuInfo> vi;
  };
  // Both calls on the call thread, one after the other: the count first, then the vCPUs.
  Out r = call.Run("virDomainGetVcpus", [](virDomainPtr d) {
    Out o;
    virDomainInfo di;
    if (virDomainGetInfo(d, &di) < 0) {
      o.failed = "virDomainGetInfo";
      return o;
    }
    o.vi.resize(di.nrVirtCpu > 0 ? di.nrVirtCpu : 1);
    o.n = virDomainGetVcpus(d, o.vi.data(), static_cast<int>(o.vi.size()), nullptr, 0);
    if (o.n < 0) o.failed = "virDomainGetVcpus";
    return o;
  });
  if (r.failed) call.Fail(r.failed);
  int n = r.n;
  const auto& vi = r.vi;
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
