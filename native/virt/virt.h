// Shared declarations of the libvirt binding: argument helpers, error conversion, the process-wide
// connection table (integer ids usable from any worker) and typed-parameter conversion.
#pragma once

// In a worker being terminated N-API cannot throw; without this node-addon-api turns that into
// std::terminate (a C++ exception escaping its callback wrapper) instead of dropping the exception.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <initializer_list>
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
/**
 * Keep a copy of this thread's last libvirt error: the next public libvirt call (even a local check
 * such as virConnectIsAlive) resets it, and LastError()/LastErrorCode() must still report the call's
 * own error. The copy is dropped when the next call on a connection starts.
 */
void StashLastError();
void DropStashedError();
/** The message of this thread's last (or stashed) libvirt error, empty when none. */
std::string LastErrorMessage();
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
 * close() from another thread (a reconnect) cannot free the connection under a running call, also when
 * the worker making the call was discarded and lingers in libvirt.
 */
class ConnRef {
 public:
  /** Takes over one reference of `c` (virConnectRef'd by the caller); `call` counts it in inFlight. */
  ConnRef(std::shared_ptr<ConnEntry> e, virConnectPtr c, bool call) : entry_(std::move(e)), conn_(c), call_(call) {}
  ConnRef(ConnRef&& o) noexcept
      : entry_(std::move(o.entry_)), conn_(std::exchange(o.conn_, nullptr)), call_(o.call_) {}
  ConnRef(const ConnRef&) = delete;
  ConnRef& operator=(const ConnRef&) = delete;
  ~ConnRef();
  virConnectPtr get() const { return conn_; }
  int id() const;

  /**
   * Run one libvirt call `f` on this connection (every call that may talk to the daemon goes through
   * here). When the call leaves libvirt with the connection dead, the loss is reported to every close
   * listener at once (the close callback can be held back for as long as another thread waits inside
   * libvirt), and this thread waits until no other thread is inside libvirt on this connection before
   * it returns: libvirt before 10.3 can leave a poll source pointing into the stack frame of a thread
   * that left its I/O loop (CVE-2024-4418), and another thread that takes over the loop would use it.
   */
  template <class F>
  auto Run(F&& f) -> decltype(f()) {
    Enter();
    struct Exit {
      ConnRef* self;
      ~Exit() { self->Leave(); }
    } exit{this};
    return Deep(f);
  }

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
  // The call runs below a stack reserve, so that when Leave() waits, its own frames stay above the
  // frames libvirt used (a stale poll source may still write into those until the wait ends).
  template <class F>
  __attribute__((noinline)) static auto Deep(F&& f) -> decltype(f()) {
    void* reserve = __builtin_alloca(kStackReserve);
    asm volatile("" : : "r"(reserve) : "memory");
    return f();
  }
  static constexpr size_t kStackReserve = 64 * 1024;
  void Enter();
  void Leave();

  std::shared_ptr<ConnEntry> entry_;
  virConnectPtr conn_;
  bool call_;
};

/** Take connection `id` from the process-wide table; throws ERR_LIBVIRT_NO_CONNECTION when absent. */
ConnRef AcquireConn(Napi::Env env, int id);
/** The same for a long-lived holder (an event hub): not counted as a call in flight. */
ConnRef HoldConn(Napi::Env env, int id);
void RegisterConnectionFunctions(Napi::Env env, Napi::Object exports);

/** Close listeners (events.cc subscribes each connection's event hub). */
class CloseListener {
 public:
  virtual ~CloseListener() = default;
  /** reason: virConnectCloseReason, or -1 when a call found the connection closed first. */
  virtual void OnConnectionClosed(int connId, int reason, const std::string& message) = 0;
};
void AddCloseListener(int connId, const std::shared_ptr<CloseListener>& l);
/** Every connection loss, whichever connection (events.cc forwards it to connection watchers). */
void NotifyWatchers(int connId, int reason, const std::string& message);

/** UUID, name and id of a domain as a JS object. */
Napi::Object DomainSummary(Napi::Env env, virDomainPtr d);
std::string DomainUUID(virDomainPtr d);

// ---- the call prologue (call.cc) -------------------------------------------------------------
/**
 * One binding call from JS whose first argument is a connection id: the connection reference for the
 * call's lifetime plus argument readers. Every libvirt call goes through Run() (see ConnRef::Run).
 */
class Call {
 public:
  explicit Call(const Napi::CallbackInfo& info);
  Napi::Env env() const { return info_.Env(); }
  virConnectPtr conn() const { return ref_.get(); }
  ConnRef& ref() { return ref_; }
  int Int(size_t i, const char* name) const { return ArgInt(info_, i, name); }
  /** An int argument that may be left out. */
  int OptInt(size_t i, int fallback) const;
  unsigned int Flags(size_t i) const { return ArgFlags(info_, i); }
  double Num(size_t i, const char* name) const;
  std::string Str(size_t i, const char* name) const { return ArgStr(info_, i, name); }
  /** Optional string: nullptr when undefined or null; the pointer lives as long as this call. */
  const char* OptStr(size_t i);
  const Napi::Value Arg(size_t i) const { return i < info_.Length() ? info_[i] : env().Undefined(); }
  template <class F>
  auto Run(F&& f) -> decltype(f()) { return ref_.Run(std::forward<F>(f)); }
  [[noreturn]] void Fail(const char* what) { ref_.Fail(env(), what); }

 protected:
  const Napi::CallbackInfo& info_;
  ConnRef ref_;
  std::vector<std::unique_ptr<std::string>> strings_;
};

/** A call about one domain: (conn, uuid, ...); the domain is looked up (or taken from the cache). */
class DomainCall : public Call {
 public:
  explicit DomainCall(const Napi::CallbackInfo& info);
  virDomainPtr dom() const { return dom_.get(); }
  const std::string& uuid() const { return uuid_; }
  /** Throw libvirt's last error; forgets the cached domain when libvirt says it is gone. */
  [[noreturn]] void Fail(const char* what) { ref_.Fail(env(), what, &uuid_); }

 private:
  std::string uuid_;
  DomRef dom_;
};

/** One exported function. */
struct Export {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};
void ExportAll(Napi::Env env, Napi::Object exports, std::initializer_list<Export> fns);

// ---- call groups ----------------------------------------------------------------------------
void RegisterDomainFunctions(Napi::Env env, Napi::Object exports);
void RegisterStatsFunctions(Napi::Env env, Napi::Object exports);
void RegisterHostFunctions(Napi::Env env, Napi::Object exports);
void RegisterAgentFunctions(Napi::Env env, Napi::Object exports);
void RegisterEventFunctions(Napi::Env env, Napi::Object exports);
void RegisterMigrationFunctions(Napi::Env env, Napi::Object exports);

}  // namespace virt
