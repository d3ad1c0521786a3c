// Live migration calls: migrateToURI3 (peer-to-peer, blocks for the whole migration, possibly without
// limit when the destination hangs: call it only from a worker of its own), job statistics, job abort,
// max downtime / max speed and the switch to post-copy. Each takes (conn, uuid, ...) and holds a
// connection reference throughout.
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
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  std::string duri = ArgStr(info, 2, "dconnuri");
  TypedParams params;
  ParamsFromObject(env, info.Length() > 3 ? info[3] : env.Undefined(), params);
  unsigned int flags = ArgFlags(info, 4);
  DomRef d = c.Domain(env, uuid);
  int rc = c.RunDom(env, "virDomainMigrateToURI3", d, [duri, params = std::move(params), flags](virDomainPtr dom) {
    return virDomainMigrateToURI3(dom, duri.c_str(), params.get(), static_cast<unsigned int>(params.size()), flags);
  });
  if (rc < 0) c.Fail(env, "virDomainMigrateToURI3", &uuid);
  return env.Undefined();
}

// jobStats(conn, uuid, flags?) -> { type, operation?, time_elapsed?, data_total?, ... } (libvirt's keys;
// type 0 none, 2 unbounded, 3 completed, 4 failed, 5 cancelled; operation 5 = outgoing migration).
Napi::Value JobStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  unsigned int flags = ArgFlags(info, 2);
  DomRef d = c.Domain(env, uuid);
  struct Out {
    int rc = 0;
    int type = VIR_DOMAIN_JOB_NONE;
    TypedParams params;
  };
  Out r = c.RunDom(env, "virDomainGetJobStats", d, [flags](virDomainPtr dom) {
    Out o;
    o.rc = virDomainGetJobStats(dom, &o.type, o.params.params(), o.params.n(), flags);
    return o;
  });
  if (r.rc < 0) c.Fail(env, "virDomainGetJobStats", &uuid);
  Napi::Object o = TypedParamsToObject(env, r.params.get(), r.params.size());
  o.Set("type", r.type);
  return o;
}

// Argument i as a number >= 0, or a TypeError naming it.
static double ArgNonNegative(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber() || info[i].As<Napi::Number>().DoubleValue() < 0)
    throw ArgError(info.Env(), std::string(name) + " must be a non-negative number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// abortJob(conn, uuid) -> undefined; OPERATION_INVALID when no job runs.
Napi::Value AbortJob(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  if (c.RunDom(env, "virDomainAbortJob", d, [](virDomainPtr dom) { return virDomainAbortJob(dom); }) < 0) c.Fail(env, "virDomainAbortJob", &uuid);
  return env.Undefined();
}

// migrateSetMaxDowntime(conn, uuid, downtimeMs, flags?)
Napi::Value MigrateSetMaxDowntime(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  auto ms = static_cast<unsigned long long>(ArgNonNegative(info, 2, "downtimeMs"));
  DomRef d = c.Domain(env, uuid);
  unsigned int flags = ArgFlags(info, 3);
  if (c.RunDom(env, "virDomainMigrateSetMaxDowntime", d, [ms, flags](virDomainPtr dom) { return virDomainMigrateSetMaxDowntime(dom, ms, flags); }) < 0)
    c.Fail(env, "virDomainMigrateSetMaxDowntime", &uuid);
  return env.Undefined();
}

// migrateSetMaxSpeed(conn, uuid, bandwidthMiBs, flags?)
Napi::Value MigrateSetMaxSpeed(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  auto mibs = static_cast<unsigned long>(ArgNonNegative(info, 2, "bandwidth"));
  DomRef d = c.Domain(env, uuid);
  unsigned int flags = ArgFlags(info, 3);
  if (c.RunDom(env, "virDomainMigrateSetMaxSpeed", d, [mibs, flags](virDomainPtr dom) { return virDomainMigrateSetMaxSpeed(dom, mibs, flags); }) < 0)
    c.Fail(env, "virDomainMigrateSetMaxSpeed", &uuid);
  return env.Undefined();
}

// migrateGetMaxSpeed(conn, uuid, flags?) -> MiB/s
Napi::Value MigrateGetMaxSpeed(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  unsigned int flags = ArgFlags(info, 2);
  DomRef d = c.Domain(env, uuid);
  struct Out {
    int rc = 0;
    unsigned long mibs = 0;
  };
  Out r = c.RunDom(env, "virDomainMigrateGetMaxSpeed", d, [flags](virDomainPtr dom) {
    Out o;
    o.rc = virDomainMigrateGetMaxSpeed(dom, &o.mibs, flags);
    return o;
  });
  if (r.rc < 0) c.Fail(env, "virDomainMigrateGetMaxSpeed", &uuid);
  return Napi::Number::New(env, static_cast<double>(r.mibs));
}

// migrateStartPostCopy(conn, uuid, flags?)
Napi::Value MigrateStartPostCopy(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  std::string uuid = ArgStr(info, 1, "uuid");
  DomRef d = c.Domain(env, uuid);
  unsigned int flags = ArgFlags(info, 2);
  if (c.RunDom(env, "virDomainMigrateStartPostCopy", d, [flags](virDomainPtr dom) { return virDomainMigrateStartPostCopy(dom, flags); }) < 0)
    c.Fail(env, "virDomainMigrateStartPostCopy", &uuid);
  return env.Undefined();
}

}  // namespace

void RegisterMigrationFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("migrateToURI3", Napi::Function::New(env, MigrateToURI3, "migrateToURI3"));
  exports.Set("jobStats", Napi::Function::New(env, JobStats, "jobStats"));
  exports.Set("abortJob", Napi::Function::New(env, AbortJob, "abortJob"));
  exports.Set("migrateSetMaxDowntime", Napi::Function::New(env, MigrateSetMaxDowntime, "migrateSetMaxDowntime"));
  exports.Set("migrateSetMaxSpeed", Napi::Function::New(env, MigrateSetMaxSpeed, "migrateSetMaxSpeed"));
  exports.Set("migrateGetMaxSpeed", Napi::Function::New(env, MigrateGetMaxSpeed, "migrateGetMaxSpeed"));
  exports.Set("migrateStartPostCopy", Napi::Function::New(env, MigrateStartPostCopy, "migrateStartPostCopy"));
}

}  // namespace virt
