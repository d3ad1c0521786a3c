// Shared declarations of the libvirt binding: argument helpers, error conversion, the process-wide
// connection table (integer ids usable from any worker) and typed-parameter conversion.
#pragma once

// In a worker being terminated N-API cannot throw; without this node-addon-api turns that into
// std::terminate (a C++ exception escaping its callback wrapper) instead of dropping the exception.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "../offload/offload.h"

#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
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

/** libvirt's error of a call made on a call thread, carried to the JS thread that waits for it. */
class SavedError {
 public:
  SavedError() = default;
  explicit SavedError(virErrorPtr p) : p_(p) {}
  SavedError(SavedError&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  SavedError& operator=(SavedError&& o) noexcept { std::swap(p_, o.p_); return *this; }
  SavedError(const SavedError&) = delete;
  SavedError& operator=(const SavedError&) = delete;
  ~SavedError() { if (p_) virFreeError(p_); }
  virErrorPtr release() { return std::exchange(p_, nullptr); }

 private:
  virErrorPtr p_ = nullptr;
};
/** On the call thread: take this thread's stashed error (see StashLastError) away from it. */
SavedError TakeStashedError();
/**
 * On the JS thread: make `e` this thread's last error, as if the call had run here (LastError(),
 * LastErrorCode() and the Fail() helpers read it); none when the call succeeded.
 */
void AdoptError(SavedError e);
/** The message of this thread's last (or stashed) libvirt error, empty when none. */
std::string LastErrorMessage();
/** A JS Error for a bad argument (code ERR_INVALID_ARG). */
Napi::Error ArgError(Napi::Env env, const std::string& message);
/** ERR_LIBVIRT_<NAME> for a virErrorNumber (ERR_LIBVIRT_<n> when unknown to this build). */
std::string StableCode(int virCode);
Napi::Value ErrorNames(const Napi::CallbackInfo& info);

// ---- the call threads (offload.cc) ----------------------------------------------------------
/** This addon's call-thread registry (call threads are named virt/call). */
offload::Registry& Offloader();
/** The calling JS thread's membership of it. */
offload::Waiter& ThisWaiter();
/** Throws what an offloaded call's outcome means for JS (nothing for Done). */
void ThrowOffloadOutcome(Napi::Env env, offload::Outcome outcome, const char* what, napi_value pending);
/**
 * Run the job `make()` builds (an FnJob<R, ...> callable) on the calling JS thread's call thread and
 * wait; throws ERR_NATIVE_CALL_ABANDONED when the Executor let this thread go meanwhile (the call goes
 * on without it). In a chain pass (the asynchronous entry) it throws ERR_NATIVE_CALL_PENDING instead of
 * waiting, and in the pass after the call finished returns that job without calling again. `key` tells
 * apart calls of one call site made for different things within one binding call (a uuid).
 */
template <class R, class Make>
auto Offload(Napi::Env env, const char* what, const std::string& key, Make make) {
  std::shared_ptr<offload::FnJob<R, decltype(make())>> job;
  napi_value pending = nullptr;
  offload::Outcome outcome = Offloader().Perform<R>(env, ThisWaiter(), what, key, std::move(make), &job, &pending);
  ThrowOffloadOutcome(env, outcome, what, pending);  // (pending is set by Perform: read it after)
  return job;
}
/** True for the errors of the offload itself (pending, abandoned): never to be caught as libvirt's. */
bool IsOffloadError(const Napi::Error& e);
void RegisterOffloadFunctions(Napi::Env env, Napi::Object exports);

/** Owned results of calls that may be left behind on a call thread (freed there if nobody takes them). */
struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};
using CStr = std::unique_ptr<char, FreeDeleter>;

/** A typed-parameter array filled by libvirt (or built with virTypedParamsAdd*), freed on scope exit. */
class TypedParams {
 public:
  TypedParams() = default;
  TypedParams(TypedParams&& o) noexcept
      : params_(std::exchange(o.params_, nullptr)), n_(std::exchange(o.n_, 0)), max_(std::exchange(o.max_, 0)) {}
  TypedParams(const TypedParams&) = delete;
  TypedParams& operator=(const TypedParams&) = delete;
  ~TypedParams() { if (params_) virTypedParamsFree(params_, n_); }
  virTypedParameterPtr get() const { return params_; }
  int size() const { return n_; }
  virTypedParameterPtr* params() { return &params_; }
  int* n() { return &n_; }
  int* max() { return &max_; }

 private:
  virTypedParameterPtr params_ = nullptr;
  int n_ = 0;
  int max_ = 0;
};

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
  /** A second reference on the same domain (for a call thread). */
  DomRef Dup() const { if (d_) virDomainRef(d_); return DomRef(d_); }

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
   * Run one libvirt call `f(conn)` on this connection (every call that may talk to the daemon goes
   * through here), on the calling JS thread's call thread (offload.cc): `f` runs there, so it must own
   * every capture (by value: copies, its own out-parameters, shared references) and return its results
   * by value, as owning types (CStr, DomRef, TypedParams...) that free themselves if the JS thread was
   * let go meanwhile. libvirt's error of the call is carried back to the JS thread (AdoptError), where
   * Fail() reads it. `what` names the call in listings of lingering calls.
   *
   * Around the call: when it leaves libvirt with the connection dead, the loss is reported to every
   * close listener at once (the close callback can be held back for as long as another thread waits
   * inside libvirt), and the call thread waits until no other thread is inside libvirt on this
   * connection before it returns: libvirt before 10.3 can leave a poll source pointing into the stack
   * frame of a thread that left its I/O loop (CVE-2024-4418), and another thread that takes over the
   * loop would use it. Both the wait and the stack reserve (Deep) are about the thread inside libvirt,
   * so they happen on the call thread.
   */
  template <class F>
  auto Run(Napi::Env env, const char* what, F f, const std::string& key = std::string()) -> decltype(f(virConnectPtr{})) {
    using R = decltype(f(virConnectPtr{}));
    struct Result {
      R value;
      SavedError error;
    };
    auto job = Offload<Result>(env, what, key, [&] {
      return [share = Share(), f = std::move(f)]() mutable -> Result {
        R value = share.RunHere([&] { return f(share.get()); });
        return Result{std::move(value), TakeStashedError()};
      };
    });
    Result out = job->Take();
    AdoptError(std::move(out.error));
    return std::move(out.value);
  }

  /** Run(env, what, f(dom)) for a call about domain `d` (the call thread holds its own reference). */
  template <class F>
  auto RunDom(Napi::Env env, const char* what, const DomRef& d, F f) -> decltype(f(virDomainPtr{})) {
    return Run(env, what, [dom = d.Dup(), f = std::move(f)](virConnectPtr) mutable { return f(dom.get()); });
  }

  /**
   * The same on the calling thread itself, synchronously: for calls that stay on their JS thread (event
   * registration) and, inside Run, on the call thread.
   */
  template <class F>
  auto RunHere(F&& f) -> decltype(f()) {
    Enter();
    struct Exit {
      ConnRef* self;
      ~Exit() { self->Leave(); }
    } exit{this};
    return Deep(f);
  }

  /** Another reference on this connection, counted as a call in flight (a call thread, a chain). */
  ConnRef Share() const;

  /** The domain with this UUID (cached per connection); throws ERR_LIBVIRT_NO_DOMAIN. */
  DomRef Domain(Napi::Env env, const std::string& uuid);
  /** The cached domain with this UUID, or an empty reference (no call to libvirt). */
  DomRef Cached(const std::string& uuid);
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

/** The return code of a libvirt call and its one out-parameter, filled on the call thread (RunOut). */
template <class S>
struct RcOut {
  int rc = 0;
  S value{};
};

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
  /** Optional string for a call thread: an owned copy, empty optional when undefined or null. */
  std::optional<std::string> OptString(size_t i) const;
  const Napi::Value Arg(size_t i) const { return i < info_.Length() ? info_[i] : env().Undefined(); }
  /** ConnRef::Run: `f(conn)` on the call thread; f must own its captures. */
  template <class F>
  auto Run(const char* what, F f) -> decltype(f(virConnectPtr{})) { return ref_.Run(env(), what, std::move(f)); }
  /** Run for `int f(conn, S* out)`: the out-parameter lives on the call thread and comes back by value. */
  template <class S, class F>
  RcOut<S> RunOut(const char* what, F f) {
    return Run(what, [f](virConnectPtr c) { RcOut<S> o; o.rc = f(c, &o.value); return o; });
  }
  [[noreturn]] void Fail(const char* what) { ref_.Fail(env(), what); }

 protected:
  const Napi::CallbackInfo& info_;
  ConnRef ref_;
};

/** A call about one domain: (conn, uuid, ...); the domain is looked up (or taken from the cache). */
class DomainCall : public Call {
 public:
  explicit DomainCall(const Napi::CallbackInfo& info);
  virDomainPtr dom() const { return dom_.get(); }
  const std::string& uuid() const { return uuid_; }
  /** ConnRef::RunDom: `f(dom)` on the call thread, with a reference of its own on the domain. */
  template <class F>
  auto Run(const char* what, F f) -> decltype(f(virDomainPtr{})) { return ref_.RunDom(env(), what, dom_, std::move(f)); }
  /** Run for `int f(dom, S* out)`: the out-parameter lives on the call thread and comes back by value. */
  template <class S, class F>
  RcOut<S> RunOut(const char* what, F f) {
    return Run(what, [f](virDomainPtr d) { RcOut<S> o; o.rc = f(d, &o.value); return o; });
  }
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
void RegisterSecretFunctions(Napi::Env env, Napi::Object exports);
void RegisterSnapshotFunctions(Napi::Env env, Napi::Object exports);

}  // namespace virt
