// Live migration calls: migrateToURI3 (peer-to-peer, blocks for the whole migration, possibly without
// limit when the destination hangs: call it only from a worker of its own), job statistics, job abort,
// max downtime / max speed and the switch to post-copy; save/restore of a domain's memory state to a file
// (hibernation). Each takes (conn, uuid, ...) through DomainCall (call.cc), like the other domain calls;
// restore takes (conn, path, ...), there being no domain yet.
#include "virt.h"

#include <cstdlib>
#include <cstring>

namespace virt {

namespace {

// The migration parameters a JS number may carry, with the type libvirt insists on (virTypedParamsValidate
// rejects a bandwidth given as INT, for one). Strings need no table: every other parameter is a string.
struct NumericParam {
  const char* name;
  int type;
};
const NumericParam kNumericParams[] = {
    {VIR_MIGRATE_PARAM_BANDWIDTH, VIR_TYPED_PARAM_ULLONG},
    {VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY, VIR_TYPED_PARAM_ULLONG},
    {VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_DISKS_PORT, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_COMPRESSION_MT_LEVEL, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_COMPRESSION_MT_THREADS, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_COMPRESSION_MT_DTHREADS, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE, VIR_TYPED_PARAM_ULLONG},
    {VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL, VIR_TYPED_PARAM_INT},
    {VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT, VIR_TYPED_PARAM_INT},
};

int NumericType(const std::string& name) {
  for (const auto& p : kNumericParams) {
    if (name == p.name) return p.type;
  }
  return -1;
}

// A plain JS object { migrate_uri: 'tcp://..', bandwidth: 52, ... } -> typed parameters. Unknown numeric
// keys and values of other types are argument errors, raised before libvirt is called.
void ParamsFromObject(Napi::Env env, const Napi::Value& v, TypedParams& out) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject() || v.IsArray()) throw ArgError(env, "params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value val = o.Get(key);
    int rc = 0;
    if (val.IsString()) {
      std::string s = val.As<Napi::String>().Utf8Value();
      rc = virTypedParamsAddString(out.params(), out.n(), out.max(), key.c_str(), s.c_str());
    } else if (val.IsNumber()) {
      double d = val.As<Napi::Number>().DoubleValue();
      int type = NumericType(key);
      if (type < 0) throw ArgError(env, "params." + key + ": not a numeric migration parameter");
      if (d < 0) throw ArgError(env, "params." + key + " must not be negative");
      rc = type == VIR_TYPED_PARAM_INT
               ? virTypedParamsAddInt(out.params(), out.n(), out.max(), key.c_str(), static_cast<int>(d))
               : virTypedParamsAddULLong(out.params(), out.n(), out.max(), key.c_str(), static_cast<unsigned long long>(d));
    } else if (val.IsUndefined() || val.IsNull()) {
      continue;
    } else {
      throw ArgError(env, "params." + key + " must be a string or a number");
    }
    if (rc < 0) throw LastError(env, "virTypedParamsAdd");
  }
}

// migrateToURI3(conn, uuid, dconnuri, params, flags) -> undefined. Blocks until libvirt finishes (or
// fails) the migration, which is unbounded when the destination daemon or QEMU hangs.
Napi::Value MigrateToURI3(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string duri = call.Str(2, "dconnuri");
  TypedParams params;
  ParamsFromObject(call.env(), call.Arg(3), params);
  unsigned int flags = call.Flags(4);
  int rc = call.Run("virDomainMigrateToURI3", [duri, params = std::move(params), flags](virDomainPtr dom) {
    return virDomainMigrateToURI3(dom, duri.c_str(), params.get(), static_cast<unsigned int>(params.size()), flags);
  });
  if (rc < 0) call.Fail("virDomainMigrateToURI3");
  return call.env().Undefined();
}

// jobStats(conn, uuid, flags?) -> { type, operation?, time_elapsed?, data_total?, ... } (libvirt's keys;
// type 0 none, 2 unbounded, 3 completed, 4 failed, 5 cancelled; operation 5 = outgoing migration).
Napi::Value JobStats(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  struct Out {
    int rc = 0;
    int type = VIR_DOMAIN_JOB_NONE;
    TypedParams params;
  };
  Out r = call.Run("virDomainGetJobStats", [flags](virDomainPtr dom) {
    Out o;
    o.rc = virDomainGetJobStats(dom, &o.type, o.params.params(), o.params.n(), flags);
    return o;
  });
  if (r.rc < 0) call.Fail("virDomainGetJobStats");
  Napi::Object o = TypedParamsToObject(call.env(), r.params.get(), r.params.size());
  o.Set("type", r.type);
  return o;
}

// Argument i as a number >= 0, or a TypeError naming it.
double NonNegative(const DomainCall& call, size_t i, const char* name) {
  double v = call.Num(i, name);
  if (v < 0) throw ArgError(call.env(), std::string(name) + " must be a non-negative number");
  return v;
}

// abortJob(conn, uuid) -> undefined; OPERATION_INVALID when no job runs.
Napi::Value AbortJob(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  if (call.Run("virDomainAbortJob", [](virDomainPtr dom) { return virDomainAbortJob(dom); }) < 0) call.Fail("virDomainAbortJob");
  return call.env().Undefined();
}

// migrateSetMaxDowntime(conn, uuid, downtimeMs, flags?)
Napi::Value MigrateSetMaxDowntime(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  auto ms = static_cast<unsigned long long>(NonNegative(call, 2, "downtimeMs"));
  unsigned int flags = call.Flags(3);
  if (call.Run("virDomainMigrateSetMaxDowntime", [ms, flags](virDomainPtr dom) { return virDomainMigrateSetMaxDowntime(dom, ms, flags); }) < 0)
    call.Fail("virDomainMigrateSetMaxDowntime");
  return call.env().Undefined();
}

// migrateSetMaxSpeed(conn, uuid, bandwidthMiBs, flags?)
Napi::Value MigrateSetMaxSpeed(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  auto mibs = static_cast<unsigned long>(NonNegative(call, 2, "bandwidth"));
  unsigned int flags = call.Flags(3);
  if (call.Run("virDomainMigrateSetMaxSpeed", [mibs, flags](virDomainPtr dom) { return virDomainMigrateSetMaxSpeed(dom, mibs, flags); }) < 0)
    call.Fail("virDomainMigrateSetMaxSpeed");
  return call.env().Undefined();
}

// migrateGetMaxSpeed(conn, uuid, flags?) -> MiB/s
Napi::Value MigrateGetMaxSpeed(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  auto r = call.RunOut<unsigned long>("virDomainMigrateGetMaxSpeed", [flags](virDomainPtr dom, unsigned long* mibs) {
    return virDomainMigrateGetMaxSpeed(dom, mibs, flags);
  });
  if (r.rc < 0) call.Fail("virDomainMigrateGetMaxSpeed");
  return Napi::Number::New(call.env(), static_cast<double>(r.value));
}

// migrateStartPostCopy(conn, uuid, flags?)
Napi::Value MigrateStartPostCopy(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  if (call.Run("virDomainMigrateStartPostCopy", [flags](virDomainPtr dom) { return virDomainMigrateStartPostCopy(dom, flags); }) < 0)
    call.Fail("virDomainMigrateStartPostCopy");
  return call.env().Undefined();
}

// save(conn, uuid, path, dxml?, flags?) -> undefined: the domain's memory state to a file (hibernation),
// after which libvirt stops the domain. As long as the storage takes to write the guest's memory, and
// unbounded on a hung storage: run it on an Executor of its own, like migrateToURI3.
Napi::Value Save(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string path = call.Str(2, "path");
  std::optional<std::string> dxml = call.OptString(3);
  unsigned int flags = call.Flags(4);
  int rc = call.Run("virDomainSaveFlags", [path, dxml, flags](virDomainPtr dom) {
    return virDomainSaveFlags(dom, path.c_str(), dxml ? dxml->c_str() : nullptr, flags);
  });
  if (rc < 0) call.Fail("virDomainSaveFlags");
  return call.env().Undefined();
}

// restore(conn, path, dxml?, flags?) -> undefined: a domain from a file save() wrote (its XML is in the
// file; dxml replaces it with an ABI-compatible one). Reads the whole memory image: as long as save.
Napi::Value Restore(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string path = call.Str(1, "path");
  std::optional<std::string> dxml = call.OptString(2);
  unsigned int flags = call.Flags(3);
  int rc = call.Run("virDomainRestoreFlags", [path, dxml, flags](virConnectPtr c) {
    return virDomainRestoreFlags(c, path.c_str(), dxml ? dxml->c_str() : nullptr, flags);
  });
  if (rc < 0) call.Fail("virDomainRestoreFlags");
  return call.env().Undefined();
}

// saveImageXml(conn, path, flags?) -> string: the domain XML a save file carries (which VM it holds),
// read from the file's header without restoring it.
Napi::Value SaveImageXml(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string path = call.Str(1, "path");
  unsigned int flags = call.Flags(2);
  CStr xml = call.Run("virDomainSaveImageGetXMLDesc", [path, flags](virConnectPtr c) { return CStr(virDomainSaveImageGetXMLDesc(c, path.c_str(), flags)); });
  if (!xml) call.Fail("virDomainSaveImageGetXMLDesc");
  return TakeString(call.env(), xml.release());
}

}  // namespace

void RegisterMigrationFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"migrateToURI3", MigrateToURI3}, {"jobStats", JobStats}, {"abortJob", AbortJob},
                           {"migrateSetMaxDowntime", MigrateSetMaxDowntime}, {"migrateSetMaxSpeed", MigrateSetMaxSpeed},
                           {"migrateGetMaxSpeed", MigrateGetMaxSpeed}, {"migrateStartPostCopy", MigrateStartPostCopy},
                           {"save", Save}, {"restore", Restore}, {"saveImageXml", SaveImageXml}});
}

}  // namespace virt
