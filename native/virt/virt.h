// Shared declarations of the libvirt binding: argument helpers, error conversion, the process-wide
// connection table (integer ids usable from any worker) and typed-parameter conversion.
#pragma once

// In a worker being terminated N-API cannot throw; without this node-addon-api turns that into
// std::terminate (a C++ exception escaping its callback wrapper) instead of dropping the exception.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace virt {

// ---- start-up (event-loop.cc) ----------------------------------------------------------------
/** Runs once per process: virInitialize, silent error handler, default event impl, loop thread. */
void EnsureInitialized();
Napi::Value EventLoopInfo(const Napi::CallbackInfo& info);

// ---- errors (errors.cc) ----------------------------------------------------------------------
/** A JS Error for libvirt's last error on this thread: code ERR_LIBVIRT_<NAME>, virCode, virDomain... */
Napi::Error LastError(Napi::Env env, const char* what);
/** The numeric libvirt error code of this thread's last error (0 when none). */
int LastErrorCode();
/** A JS Error for a bad argument (code ERR_INVALID_ARG). */
Napi::Error ArgError(Napi::Env env, const std::string& message);
/** ERR_LIBVIRT_<NAME> for a virErrorNumber (ERR_LIBVIRT_<n> when unknown to this build). */
std::string StableCode(int virCode);
Napi::Value ErrorNames(const Napi::CallbackInfo& info);

// ---- argument helpers (args.cc) --------------------------------------------------------------
int ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);
unsigned int ArgFlags(const Napi::CallbackInfo& info, size_t i);
std::string ArgStr(const Napi::CallbackInfo& info, size_t i, const char* name);
/** Optional string: nullptr-able through `has` (undefined or null -> has=false). */
std::string ArgOptStr(const Napi::CallbackInfo& info, size_t i, bool* has);
/** libvirt's malloc'd string -> JS string (frees it); null when p is null. */
Napi::Value TakeString(Napi::Env env, char* p);

// ---- typed parameters (typed-params.cc) ------------------------------------------------------
/** virTypedParameter array -> plain object; 64-bit integers become Number (exact below 2^53). */
Napi::Object TypedParamsToObject(Napi::Env env, virTypedParameterPtr params, int n);

/** A small value tree, built off the JS thread (event callbacks) and converted on it. */
struct Val {
  enum class T { Null, Num, Str, Bool, Obj, Arr } t = T::Null;
  double n = 0;
  bool b = false;
  std::string s;
  std::vector<std::pair<std::string, Val>> obj;
  std::vector<Val> arr;
  static Val Num(double v) { Val x; x.t = T::Num; x.n = v; return x; }
  static Val Str(const char* v) { Val x; if (v) { x.t = T::Str; x.s = v; } return x; }
  static Val Bool(bool v) { Val x; x.t = T::Bool; x.b = v; return x; }
  static Val Obj() { Val x; x.t = T::Obj; return x; }
  static Val Arr() { Val x; x.t = T::Arr; return x; }
  Val& Set(const char* k, Val v) { obj.emplace_back(k, std::move(v)); return *this; }
  Napi::Value ToJs(Napi::Env env) const;
};
Val TypedParamsToVal(virTypedParameterPtr params, int n);

// ---- connections (connections.cc) ------------------------------------------------------------
struct ConnEntry;

/** A domain pointer with its own reference, released on scope exit. */
class DomRef {
 public:
  DomRef() = default;
  explicit DomRef(virDomainPtr d) : d_(d) {}
  DomRef(DomRef&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  DomRef& operator=(DomRef&& o) noexcept { reset(); d_ = std::exchange(o.d_, nullptr); return *this; }
  DomRef(const DomRef&) = delete;
  DomRef& operator=(const DomRef&) = delete;
  ~DomRef() { reset(); }
  virDomainPtr get() const { return d_; }
  void reset() { if (d_) virDomainFree(d_); d_ = nullptr; }

 private:
  virDomainPtr d_ = nullptr;
};

/**
 * A connection taken from the table for the duration of one call: holds a virConnectRef so that a
 * close() from another thread cannot free the connection under a running call.
 */
class ConnRef {
 public:
  ConnRef(std::shared_ptr<ConnEntry> e, virConnectPtr c) : entry_(std::move(e)), conn_(c) {}
  ConnRef(ConnRef&& o) noexcept : entry_(std::move(o.entry_)), conn_(std::exchange(o.conn_, nullptr)) {}
  ConnRef(const ConnRef&) = delete;
  ConnRef& operator=(const ConnRef&) = delete;
  ~ConnRef();
  virConnectPtr get() const { return conn_; }
  int id() const;
  /** The domain with this UUID (cached per connection); throws ERR_LIBVIRT_NO_DOMAIN. */
  DomRef Domain(Napi::Env env, const std::string& uuid);
  /** Remember / forget a domain pointer in the per-connection cache. */
  void Remember(virDomainPtr d);
  void Forget(const std::string& uuid);
  /** Replace the whole cache with these domains (after a full listing). */
  void ReplaceCache(virDomainPtr* doms, int n);
  /** Throw libvirt's last error; evicts `uuid` from the cache when the domain is gone. */
  [[noreturn]] void Fail(Napi::Env env, const char* what, const std::string* uuid = nullptr);
  ConnEntry& entry() { return *entry_; }

 private:
  std::shared_ptr<ConnEntry> entry_;
  virConnectPtr conn_;
};

/** Take connection `id` from the process-wide table; throws ERR_LIBVIRT_NO_CONNECTION when absent. */
ConnRef AcquireConn(Napi::Env env, int id);
void RegisterConnectionFunctions(Napi::Env env, Napi::Object exports);

/** Close-callback listeners (events.cc subscribes each event subscription of a connection). */
class CloseListener {
 public:
  virtual ~CloseListener() = default;
  virtual void OnConnectionClosed(int connId, int reason) = 0;
};
void AddCloseListener(int connId, const std::shared_ptr<CloseListener>& l);

/** UUID, name and id of a domain as a JS object. */
Napi::Object DomainSummary(Napi::Env env, virDomainPtr d);
std::string DomainUUID(virDomainPtr d);

// ---- call groups ----------------------------------------------------------------------------
void RegisterDomainFunctions(Napi::Env env, Napi::Object exports);
void RegisterStatsFunctions(Napi::Env env, Napi::Object exports);
void RegisterHostFunctions(Napi::Env env, Napi::Object exports);
void RegisterAgentFunctions(Napi::Env env, Napi::Object exports);
void RegisterEventFunctions(Napi::Env env, Napi::Object exports);
void RegisterMigrationFunctions(Napi::Env env, Napi::Object exports);

}  // namespace virt
