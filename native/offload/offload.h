// Blocking native calls on a per-JS-thread "call thread", so that a JS thread stuck behind one can be
// let go: shared by the libvirt binding (native/virt) and the sleep stand-in (native/sleep).
//
// Each JS thread (the main thread or an Executor worker) that makes a blocking call gets one native
// thread of its own, started on its first call and reused call after call. The JS thread hands the
// call over (a Job) and waits on a condition variable; the binding stays synchronous for JS. When the
// Executor discards a worker whose task timed out, the main thread asks every addon to abandon what
// that worker's OS thread waits for (Registry::Abandon by kernel thread id): the JS thread wakes,
// throws ERR_NATIVE_CALL_ABANDONED, the pending terminate() takes effect and the worker's isolate is
// freed. The call thread lingers alone inside the call (a few KB of RSS instead of a whole V8 isolate),
// frees the call's result when it returns, tells the main thread (a thread-safe function given to
// abandon) and ends.
//
// Lifetime rule for every Job: it owns what the call touches (copies of strings, its own
// out-parameters, shared references on the connection and domain) and returns results by value into
// itself. The waiting JS thread's stack may be gone by the time the call returns.
//
// The asynchronous entry: a JS thread that must not wait (an Executor worker serving other tasks while
// one is stuck in libvirt) makes the same binding call inside a *chain pass* (offloadEnter/Leave around
// it, see workers/offloaded-call.ts). Its offloaded call is then handed to a call thread of a small
// per-JS-thread set (each pending call needs its own; idle ones are reused, at most kIdleAsync kept)
// and the binding function throws ERR_NATIVE_CALL_PENDING carrying a promise and the call's id. The
// promise settles on that JS thread (a thread-safe function) when the call returns; the caller then
// calls the same binding function again in the same chain: its offloaded call finds the finished Job
// in the chain (matched by job type, name and key) instead of calling again, and the function
// converts the result as the synchronous entry would. A pending call can be abandoned by its id
// (AbandonCall, the Executor's parked task timed out): its promise rejects with
// ERR_NATIVE_CALL_ABANDONED at once and its call thread finishes alone, reported like any abandoned
// call. When the JS thread's environment goes away with calls pending, they are orphaned: their call
// threads end after the call, nothing touches the gone environment.
//
// Each addon keeps one Registry of its own (allocated once, never freed: call threads may still run
// at process exit) and one thread_local LocalWaiter per JS thread, both defined in the addon's own .cc
// so that the two addons never share state through the dynamic linker.
#pragma once

#include <dlfcn.h>
#include <node_api.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace offload {

using SteadyClock = std::chrono::steady_clock;

inline long OsThreadId() { return static_cast<long>(syscall(SYS_gettid)); }

/** The stable code a JS thread throws when its call was abandoned. */
constexpr const char* kAbandonedCode = "ERR_NATIVE_CALL_ABANDONED";
/** The code thrown inside a chain pass when the call went to a call thread (not an error: await it). */
constexpr const char* kPendingCode = "ERR_NATIVE_CALL_PENDING";
/** Async call threads a JS thread keeps idle for its next pending calls. */
constexpr size_t kIdleAsync = 2;

struct Waiter;
class Chain;

/** A tag per job type, to match a finished job to the call site that asks for it in a later pass. */
template <class J>
const void* KindOf() {
  static const char tag = 0;
  return &tag;
}

/** One blocking call handed to a call thread. Subclasses own everything the call touches. */
class Job {
 public:
  virtual ~Job() = default;
  /** Runs on the call thread, without any lock held. */
  virtual void Execute() = 0;
  /** Drops the call's inputs (shared references, copies) on the call thread right after Execute. */
  virtual void Release() {}

 private:
  friend class Registry;
  friend class Chain;
  uint64_t id_ = 0;
  const char* what_ = "";
  const void* kind_ = nullptr;  // KindOf<the concrete job type>
  std::string key_;             // what the call is about when one call site runs for several (a uuid)
  bool async_ = false;          // made from a chain pass: nobody waits, the owner's promise settles
  Waiter* owner_ = nullptr;     // async: the JS thread told of the result; null once it is gone
  long waiterTid_ = 0;
  long callTid_ = 0;
  SteadyClock::time_point started_;
  bool done_ = false;
  bool failed_ = false;     // Execute threw (a C++ exception: out of memory)
  bool abandoned_ = false;  // the waiting JS thread was let go
  napi_threadsafe_function notify_ = nullptr;  // the main thread's completion callback, once abandoned
};

/** A Job around a callable that owns its captures; the result is kept by value until taken. */
template <class R, class F>
class FnJob : public Job {
 public:
  explicit FnJob(F f) : f_(std::move(f)) {}
  void Execute() override { result_.emplace((*f_)()); }
  void Release() override { f_.reset(); }
  /** The result (call only after a Done outcome). */
  R Take() { return std::move(*result_); }

 private:
  std::optional<F> f_;
  std::optional<R> result_;
};

/**
 * One asynchronous call of a JS thread, across its passes: the finished jobs a later pass takes instead
 * of calling again. Touched only on its JS thread.
 */
class Chain {
 public:
  template <class J>
  std::shared_ptr<J> Take(const char* what, const std::string& key) {
    for (auto it = done_.begin(); it != done_.end(); ++it) {
      Job& j = **it;
      if (j.kind_ != KindOf<J>() || std::strcmp(j.what_, what) != 0 || j.key_ != key) continue;
      auto out = std::static_pointer_cast<J>(*it);
      done_.erase(it);
      return out;
    }
    return nullptr;
  }

  /** What the calls of this chain hold across its passes (the libvirt binding: its connection reference). */
  template <class T>
  T* Pinned(const std::string& key) {
    for (auto& [k, p] : pins_)
      if (k == key) return static_cast<T*>(p.get());
    return nullptr;
  }
  template <class T>
  void Pin(const std::string& key, std::shared_ptr<T> p) {
    pins_.emplace_back(key, std::static_pointer_cast<void>(std::move(p)));
  }
  /** The asynchronous call is over: drop what it held. */
  void Clear() {
    pins_.clear();
    done_.clear();
  }

 private:
  friend class Registry;
  std::deque<std::shared_ptr<Job>> done_;
  std::vector<std::pair<std::string, std::shared_ptr<void>>> pins_;
};

/** The native thread serving one JS thread; shared by the JS thread's Waiter and the thread itself. */
struct CallThread {
  std::condition_variable wake;      // the call thread waits here for work
  std::condition_variable finished;  // the JS thread waits here for its call
  std::shared_ptr<Job> pending;
  bool quit = false;
  long tid = 0;
};

class Registry;

inline napi_value MakeError(napi_env env, const char* code, const std::string& message) {
  napi_value c, m, error = nullptr;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, message.c_str(), NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &error);
  return error;
}

inline std::string AbandonedMessage(const char* what) {
  return std::string("The native call ") + what +
         " was abandoned: the task waiting for it timed out; the call goes on in its own native thread";
}

/** What a chain pass throws when its call went to a call thread: { code, callId, pending }. */
inline napi_value PendingError(napi_env env, const char* what, uint64_t id, napi_value promise) {
  napi_value error = MakeError(env, kPendingCode, std::string(what) + " is pending on a call thread (await `pending`, then call again in the same chain)");
  napi_value n;
  napi_create_double(env, static_cast<double>(id), &n);
  napi_set_named_property(env, error, "callId", n);
  napi_set_named_property(env, error, "pending", promise);
  return error;
}

/** A pending asynchronous call of a JS thread. */
struct AsyncCall {
  std::shared_ptr<Job> job;
  std::shared_ptr<Chain> chain;
  napi_deferred deferred;
};

/** A JS thread's state in a Registry (inside a LocalWaiter). */
struct Waiter {
  long tid = 0;
  std::shared_ptr<CallThread> ct;
  std::shared_ptr<Job> current;
  bool abandoned = false;  // the Executor let this thread go: no further call may block it
  // ---- the asynchronous entry (the registry's lock guards all but `chain`) ----
  std::shared_ptr<Chain> chain;  // set during a chain pass (JS thread only)
  Registry* registry = nullptr;
  napi_threadsafe_function tsfn = nullptr;  // results to this JS thread; null once its env is gone
  void* hook = nullptr;                      // the env cleanup hook's argument
  std::unordered_map<uint64_t, AsyncCall> async;
  std::vector<std::shared_ptr<CallThread>> idle;  // async call threads waiting for this thread's next call
};

/** Done: the result is in the job. Pending: async, throw the pending error and await its promise. */
enum class Outcome { Done, Abandoned, Failed, Pending };

/** A row of the calls listing. */
struct CallInfo {
  uint64_t id;
  std::string what;
  long tid;      // the JS thread that made the call
  long callTid;  // the call thread running it
  double ageMs;
  bool abandoned;
  bool async;  // made through the asynchronous entry (its JS thread did not wait)
};

class Registry {
 public:
  /** threadName: what call threads are called (15 bytes at most); anchor: an address in this addon. */
  /** The addon's accessor of the calling JS thread's Waiter (its thread_local), set by ExportControl. */
  Waiter& (*thisWaiter)() = nullptr;

  /** failCode: the error code of a call whose Execute threw (out of memory) on the asynchronous entry. */
  Registry(const char* threadName, const void* anchor, const char* failCode = "ERR_NATIVE_CALL_FAILED")
      : name_(threadName), anchor_(anchor), failCode_(failCode) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  void Attach(Waiter& w) {
    std::lock_guard<std::mutex> lock(mu_);
    w.tid = OsThreadId();
    w.registry = this;
    waiters_[w.tid] = &w;
    for (auto it = letGo_.begin(); it != letGo_.end(); ++it) {
      if (*it != w.tid) continue;
      w.abandoned = true;  // let go before its first call here: that call must not block it
      letGo_.erase(it);
      break;
    }
  }

  /** The JS thread ends: its idle call thread ends too (one still inside an abandoned call goes on). */
  void Detach(Waiter& w) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = waiters_.find(w.tid);
    if (it != waiters_.end() && it->second == &w) waiters_.erase(it);
    if (w.ct) {
      w.ct->quit = true;
      w.ct->wake.notify_one();
      w.ct.reset();
    }
    OrphanAsync(w);
  }

  /**
   * The one way a binding function makes an offloaded call: `make()` builds the job's callable (FnJob<R,
   * ...>) only when it is needed. Outside a chain pass: run it on this thread's call thread and wait
   * (Run). In a chain pass: take the finished job from an earlier pass if there is one (Done), else hand
   * it to an async call thread and return Pending with `*pendingError` (code ERR_NATIVE_CALL_PENDING,
   * callId, pending: a promise settled on this thread) for the addon to throw.
   */
  template <class R, class Make>
  Outcome Perform(napi_env env, Waiter& w, const char* what, const std::string& key, Make make,
                  std::shared_ptr<FnJob<R, decltype(make())>>* out, napi_value* pendingError) {
    using J = FnJob<R, decltype(make())>;
    if (w.chain) {
      if (auto done = w.chain->Take<J>(what, key)) {
        *out = std::move(done);
        return Outcome::Done;
      }
    }
    auto job = std::make_shared<J>(make());
    job->kind_ = KindOf<J>();
    job->key_ = key;
    *out = job;
    if (!w.chain) return Run(w, job, what);
    napi_value promise = nullptr;
    uint64_t id = 0;
    Outcome o = Submit(env, w, job, what, &promise, &id);
    if (o == Outcome::Pending) *pendingError = PendingError(env, what, id, promise);
    return o;
  }

  /** Run `job` on this JS thread's call thread and wait for it (or for its abandonment). */
  Outcome Run(Waiter& w, const std::shared_ptr<Job>& job, const char* what) {
    std::unique_lock<std::mutex> lock(mu_);
    if (w.abandoned) return Outcome::Abandoned;
    if (!w.ct && !StartThread(w)) {
      lock.unlock();
      // No thread could be started (resources exhausted): run here, as before the offload existed.
      job->Execute();
      job->Release();
      return Outcome::Done;
    }
    job->id_ = ++nextId_;
    job->what_ = what;
    job->waiterTid_ = w.tid;
    job->started_ = SteadyClock::now();
    running_[job->id_] = job;
    calls_++;
    w.current = job;
    std::shared_ptr<CallThread> ct = w.ct;
    ct->pending = job;
    ct->wake.notify_one();
    ct->finished.wait(lock, [&] { return job->done_ || job->abandoned_; });
    w.current.reset();
    if (job->done_) return job->failed_ ? Outcome::Failed : Outcome::Done;
    w.ct.reset();  // that call thread stays with the abandoned call and ends after it
    return Outcome::Abandoned;
  }

  /**
   * Let the JS thread `tid` go: it stops waiting for its call (if any) and no later call of it blocks.
   * `onDone` (a JS function of the calling thread, or null) is called with the call's id when the
   * abandoned call returns. Returns the abandoned call's id, 0 when the thread waited for none.
   */
  uint64_t Abandon(napi_env env, long tid, napi_value onDone) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = waiters_.find(tid);
    if (it == waiters_.end()) {
      // Not (yet) a caller of this addon: remember it for a little while, in case its first call is
      // on its way (the thread was discarded between its task's start and the call).
      letGo_.push_back(tid);
      if (letGo_.size() > kLetGoMemory) letGo_.pop_front();
      return 0;
    }
    Waiter& w = *it->second;
    w.abandoned = true;
    std::shared_ptr<Job> job = w.current;
    if (!job || job->done_ || job->abandoned_) return 0;
    job->abandoned_ = true;
    abandoned_++;
    if (onDone != nullptr) Subscribe(env, *job, onDone);
    w.ct->finished.notify_all();
    return job->id_;
  }

  /**
   * Let go every pending asynchronous call of JS thread `tid` (its worker is being terminated) and let
   * no later call of it start; `onDone` as for Abandon. Returns the ids abandoned.
   */
  std::vector<uint64_t> AbandonAsync(napi_env env, long tid, napi_value onDone) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint64_t> ids;
    auto it = waiters_.find(tid);
    if (it != waiters_.end()) it->second->abandoned = true;
    // By the jobs, not the waiter: the thread may have torn its environment down already (orphaned
    // calls are no longer in its waiter, but still running).
    for (auto& [id, j] : running_)
      if (j->async_ && j->waiterTid_ == tid && AbandonLocked(env, *j, onDone)) ids.push_back(id);
    return ids;
  }

  /**
   * Let go the pending asynchronous call `id` (any JS thread's): its promise rejects with
   * ERR_NATIVE_CALL_ABANDONED at once, its call thread finishes alone and `onDone(id)` (a function of
   * the calling thread) runs when the call returns. False when there is no such pending call (it
   * returned already, or was abandoned before): harmless.
   */
  bool AbandonCall(napi_env env, uint64_t id, napi_value onDone) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(id);
    if (it == running_.end() || !it->second->async_) return false;
    return AbandonLocked(env, *it->second, onDone);
  }

  std::vector<CallInfo> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<CallInfo> out;
    auto now = SteadyClock::now();
    for (auto& [id, j] : running_) {
      out.push_back({id, j->what_, j->waiterTid_, j->callTid_,
                     std::chrono::duration<double, std::milli>(now - j->started_).count(), j->abandoned_, j->async_});
    }
    return out;
  }

  struct Stats {
    uint64_t calls, abandoned, abandonedReturned;
    unsigned callThreads, asyncPending;
  };
  Stats GetStats() {
    std::lock_guard<std::mutex> lock(mu_);
    unsigned pending = 0;
    for (auto& [id, j] : running_)
      if (j->async_ && !j->abandoned_) pending++;
    return {calls_, abandoned_, abandonedReturned_, callThreads_, pending};
  }

 private:
  struct HookArg {
    Registry* self;
    uint64_t id;
  };

  bool StartThread(Waiter& w) {
    w.ct = NewThread();
    return w.ct != nullptr;
  }

  /** A new call thread (lock held), or null when none can be started. */
  std::shared_ptr<CallThread> NewThread() {
    PinSelf();
    auto ct = std::make_shared<CallThread>();
    try {
      std::thread([this, ct] { Loop(ct); }).detach();
    } catch (const std::system_error&) {
      return nullptr;
    }
    return ct;
  }

  // ---- the asynchronous entry ------------------------------------------------------------------

  struct AsyncHook {
    Registry* self;
    Waiter* w;
  };

  /** This JS thread's channel for results (created once per environment, on its first async call). */
  bool EnsureChannel(napi_env env, Waiter& w) {
    if (w.tsfn != nullptr) return true;
    napi_value name;
    napi_create_string_utf8(env, "nativeCallResult", NAPI_AUTO_LENGTH, &name);
    auto* hook = new AsyncHook{this, &w};
    napi_threadsafe_function tsfn = nullptr;
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, &w, Settle, &tsfn) != napi_ok) {
      delete hook;
      return false;
    }
    // Referenced only while calls are pending: a JS thread with a call in flight stays up for it.
    napi_unref_threadsafe_function(env, tsfn);
    // Registered after the function (hooks run last-in first-out): runs before its teardown.
    napi_add_env_cleanup_hook(env, AsyncEnvGone, hook);
    std::lock_guard<std::mutex> lock(mu_);
    w.tsfn = tsfn;
    w.hook = hook;
    return true;
  }

  /** Hand `job` to an async call thread of `w` (JS thread). */
  Outcome Submit(napi_env env, Waiter& w, const std::shared_ptr<Job>& job, const char* what, napi_value* promise, uint64_t* id) {
    bool channel = EnsureChannel(env, w);
    std::unique_lock<std::mutex> lock(mu_);
    if (w.abandoned) return Outcome::Abandoned;
    std::shared_ptr<CallThread> ct;
    if (channel && !w.idle.empty()) {
      ct = std::move(w.idle.back());
      w.idle.pop_back();
    } else if (channel) {
      ct = NewThread();
    }
    if (!ct) {
      lock.unlock();
      // No channel or no thread (resources exhausted): run here, as before the offload existed.
      bool failed = false;
      try {
        job->Execute();
      } catch (...) {
        failed = true;
      }
      job->Release();
      return failed ? Outcome::Failed : Outcome::Done;
    }
    napi_deferred deferred;
    napi_create_promise(env, &deferred, promise);
    job->id_ = ++nextId_;
    job->what_ = what;
    job->waiterTid_ = w.tid;
    job->started_ = SteadyClock::now();
    job->async_ = true;
    job->owner_ = &w;
    running_[job->id_] = job;
    calls_++;
    if (w.async.empty()) napi_ref_threadsafe_function(env, w.tsfn);
    w.async[job->id_] = AsyncCall{job, w.chain, deferred};
    *id = job->id_;
    ct->pending = job;
    ct->wake.notify_one();
    return Outcome::Pending;
  }

  /** Lock held. Marks an async job abandoned, subscribes onDone and tells its JS thread at once. */
  bool AbandonLocked(napi_env env, Job& job, napi_value onDone) {
    if (job.done_ || job.abandoned_) return false;
    job.abandoned_ = true;
    abandoned_++;
    if (onDone != nullptr) Subscribe(env, job, onDone);
    if (job.owner_ && job.owner_->tsfn)
      napi_call_threadsafe_function(job.owner_->tsfn, reinterpret_cast<void*>(static_cast<uintptr_t>(job.id_)), napi_tsfn_nonblocking);
    return true;
  }

  /** Lock held or not: the JS thread is gone; its pending calls finish without it. */
  void OrphanAsync(Waiter& w) {
    for (auto& [id, c] : w.async) c.job->owner_ = nullptr;
    w.async.clear();
    for (auto& ct : w.idle) {
      ct->quit = true;
      ct->wake.notify_one();
    }
    w.idle.clear();
    w.tsfn = nullptr;
  }

  static void AsyncEnvGone(void* arg) {
    auto* hook = static_cast<AsyncHook*>(arg);
    {
      std::lock_guard<std::mutex> lock(hook->self->mu_);
      hook->self->OrphanAsync(*hook->w);
      hook->w->hook = nullptr;
    }
    delete hook;
  }

  /** On the JS thread: settle the promise of async call `data` (it returned, failed or was abandoned). */
  static void Settle(napi_env env, napi_value, void* context, void* data) {
    if (env == nullptr) return;
    auto* w = static_cast<Waiter*>(context);
    Registry* self = w->registry;
    uint64_t id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data));
    AsyncCall c;
    Outcome outcome;
    bool last;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = w->async.find(id);
      if (it == w->async.end()) return;  // settled already (abandoned, then returned)
      c = std::move(it->second);
      w->async.erase(it);
      last = w->async.empty();
      outcome = c.job->abandoned_ ? Outcome::Abandoned : c.job->failed_ ? Outcome::Failed : Outcome::Done;
    }
    if (last && w->tsfn) napi_unref_threadsafe_function(env, w->tsfn);
    if (outcome == Outcome::Done) {
      c.chain->done_.push_back(std::move(c.job));
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, c.deferred, undefined);
      return;
    }
    std::string what = c.job->what_;
    napi_value error = outcome == Outcome::Abandoned
                           ? MakeError(env, kAbandonedCode, AbandonedMessage(what.c_str()))
                           : MakeError(env, self->failCode_, what + " failed on its call thread (out of memory)");
    napi_reject_deferred(env, c.deferred, error);
  }

  // Node unloads an addon when the last environment using it goes away; a call thread may outlive
  // them all (it runs this library's code until its call returns), so the library stays mapped.
  void PinSelf() {
    if (pinned_) return;
    pinned_ = true;
    Dl_info info;
    if (dladdr(anchor_, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }

  void Loop(std::shared_ptr<CallThread> ct) {
    pthread_setname_np(pthread_self(), name_);
    std::shared_ptr<Job> orphan;
    std::unique_lock<std::mutex> lock(mu_);
    ct->tid = OsThreadId();
    callThreads_++;
    for (;;) {
      ct->wake.wait(lock, [&] { return ct->pending != nullptr || ct->quit; });
      if (!ct->pending) break;
      std::shared_ptr<Job> job = std::move(ct->pending);
      ct->pending.reset();
      job->callTid_ = ct->tid;
      // Let go before this thread got to it (a call thread not yet scheduled when the task timed
      // out): the caller was told it was abandoned, so the call is not made at all.
      const bool letGo = job->abandoned_;
      lock.unlock();
      bool failed = false;
      if (!letGo) {
        try {
          job->Execute();
        } catch (...) {
          failed = true;
        }
      }
      job->Release();
      lock.lock();
      job->done_ = true;
      job->failed_ = failed;
      running_.erase(job->id_);
      if (job->async_ && !job->abandoned_) {
        Waiter* owner = job->owner_;
        if (owner && owner->tsfn)
          napi_call_threadsafe_function(owner->tsfn, reinterpret_cast<void*>(static_cast<uintptr_t>(job->id_)), napi_tsfn_nonblocking);
        // Back to the owner's idle set, or end (the owner is gone, or keeps enough idle threads).
        const bool keep = owner && owner->tsfn && !ct->quit && owner->idle.size() < kIdleAsync;
        if (keep) owner->idle.push_back(ct);
        std::shared_ptr<Job> drop = std::move(job);
        lock.unlock();
        drop.reset();  // an orphan's result is freed here, outside the lock
        lock.lock();
        if (keep) continue;
        break;
      }
      if (!job->abandoned_) {
        ct->finished.notify_all();
        continue;
      }
      abandonedReturned_++;
      if (job->notify_) {
        napi_call_threadsafe_function(job->notify_, reinterpret_cast<void*>(static_cast<uintptr_t>(job->id_)), napi_tsfn_nonblocking);
        napi_release_threadsafe_function(job->notify_, napi_tsfn_release);
        job->notify_ = nullptr;
      }
      orphan = std::move(job);  // its result is freed below, outside the lock
      break;                    // nobody waits on this thread any more
    }
    callThreads_--;
    lock.unlock();
    orphan.reset();
  }

  // The completion callback: a thread-safe function of the abandoning thread's environment, unref'd
  // (a call stuck for good does not keep the process up). An environment cleanup hook registered after
  // it (hooks run last-in first-out, so before the function's own teardown) detaches it from the job
  // under the lock, so a call returning during shutdown never touches a torn-down function.
  void Subscribe(napi_env env, Job& job, napi_value onDone) {
    napi_valuetype t;
    if (napi_typeof(env, onDone, &t) != napi_ok || t != napi_function) return;
    napi_value name;
    napi_create_string_utf8(env, "nativeCallDone", NAPI_AUTO_LENGTH, &name);
    auto* hook = new HookArg{this, job.id_};
    napi_threadsafe_function tsfn = nullptr;
    if (napi_create_threadsafe_function(env, onDone, nullptr, name, 0, 1, nullptr, nullptr, hook, CallJs, &tsfn) != napi_ok) {
      delete hook;
      return;
    }
    napi_unref_threadsafe_function(env, tsfn);
    napi_add_env_cleanup_hook(env, EnvGone, hook);
    job.notify_ = tsfn;
  }

  static void CallJs(napi_env env, napi_value cb, void* context, void* data) {
    if (env == nullptr) return;  // torn down: EnvGone already freed the context
    auto* hook = static_cast<HookArg*>(context);
    napi_remove_env_cleanup_hook(env, EnvGone, hook);
    delete hook;
    napi_value undefined, id;
    napi_get_undefined(env, &undefined);
    napi_create_double(env, static_cast<double>(reinterpret_cast<uintptr_t>(data)), &id);
    napi_call_function(env, undefined, cb, 1, &id, nullptr);
  }

  static void EnvGone(void* arg) {
    auto* hook = static_cast<HookArg*>(arg);
    {
      std::lock_guard<std::mutex> lock(hook->self->mu_);
      auto it = hook->self->running_.find(hook->id);
      if (it != hook->self->running_.end()) it->second->notify_ = nullptr;
    }
    delete hook;
  }

  static constexpr size_t kLetGoMemory = 256;
  const char* name_;
  const void* anchor_;
  const char* failCode_;
  std::deque<long> letGo_;  // threads let go before they ever called into this addon
  bool pinned_ = false;
  std::mutex mu_;
  std::unordered_map<long, Waiter*> waiters_;
  std::unordered_map<uint64_t, std::shared_ptr<Job>> running_;
  uint64_t nextId_ = 0;
  uint64_t calls_ = 0;
  uint64_t abandoned_ = 0;
  uint64_t abandonedReturned_ = 0;
  unsigned callThreads_ = 0;
};

/** A JS thread's membership of a Registry, for a thread_local in the addon: detaches at thread exit. */
class LocalWaiter {
 public:
  explicit LocalWaiter(Registry& r) : r_(r) { r_.Attach(w_); }
  ~LocalWaiter() { r_.Detach(w_); }
  LocalWaiter(const LocalWaiter&) = delete;
  LocalWaiter& operator=(const LocalWaiter&) = delete;
  Waiter& get() { return w_; }

 private:
  Registry& r_;
  Waiter w_;
};

// ---- the JS face, the same in every addon (`data` of each function is the addon's Registry) ------

inline Registry* RegistryOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  return static_cast<Registry*>(data);
}

/** Throw the abandonment error (a no-op when the environment is being torn down). */
inline void ThrowAbandoned(napi_env env, const char* what) {
  napi_value error = MakeError(env, kAbandonedCode,
                               std::string("The native call ") + what +
                                   " was abandoned: its worker was discarded after the task timed out; the call goes on in its own native thread");
  if (error != nullptr) napi_throw(env, error);
}

/** abandonNativeCall/abandonAsyncCalls: f(registry, tid, onDone or null) after reading (tid, onDone?). */
template <class F>
inline napi_value WithTid(napi_env env, napi_callback_info info, const char* usage, F f) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  Registry* r = RegistryOf(env, info, &argc, argv);
  int64_t tid = 0;
  if (argc < 1 || napi_get_value_int64(env, argv[0], &tid) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", (std::string(usage) + ": tid must be a number").c_str());
    return nullptr;
  }
  return f(*r, static_cast<long>(tid), argc > 1 ? argv[1] : nullptr);
}

// abandonNativeCall(tid, onDone?) -> id of the abandoned call, 0 when that thread waited for none
inline napi_value JsAbandon(napi_env env, napi_callback_info info) {
  return WithTid(env, info, "abandonNativeCall(tid, onDone?)", [env](Registry& r, long tid, napi_value onDone) {
    napi_value out;
    napi_create_double(env, static_cast<double>(r.Abandon(env, tid, onDone)), &out);
    return out;
  });
}

// abandonAsyncCalls(tid, onDone?) -> ids of the pending asynchronous calls of that thread let go
inline napi_value JsAbandonAsync(napi_env env, napi_callback_info info) {
  return WithTid(env, info, "abandonAsyncCalls(tid, onDone?)", [env](Registry& r, long tid, napi_value onDone) {
    auto ids = r.AbandonAsync(env, tid, onDone);
    napi_value arr;
    napi_create_array_with_length(env, ids.size(), &arr);
    for (size_t i = 0; i < ids.size(); i++) {
      napi_value n;
      napi_create_double(env, static_cast<double>(ids[i]), &n);
      napi_set_element(env, arr, static_cast<uint32_t>(i), n);
    }
    return arr;
  });
}

// abandonCall(id, onDone?) -> true when pending asynchronous call `id` was let go now
inline napi_value JsAbandonCall(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  Registry* r = RegistryOf(env, info, &argc, argv);
  double id = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok || !(id >= 0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "abandonCall(id, onDone?): id must be a non-negative number");
    return nullptr;
  }
  napi_value out;
  napi_get_boolean(env, r->AbandonCall(env, static_cast<uint64_t>(id), argc > 1 ? argv[1] : nullptr), &out);
  return out;
}

// offloadChain() -> a chain for one asynchronous call (see the header)
inline napi_value JsChain(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  RegistryOf(env, info, &argc, nullptr);
  auto* holder = new std::shared_ptr<Chain>(std::make_shared<Chain>());
  napi_value v;
  napi_create_external(env, holder, [](napi_env, void* p, void*) { delete static_cast<std::shared_ptr<Chain>*>(p); }, nullptr, &v);
  return v;
}

/** The chain behind an offloadChain() value, or null (a type error thrown) when `v` is not one. */
inline std::shared_ptr<Chain>* ChainOf(napi_env env, napi_value v, const char* fn) {
  void* p = nullptr;
  napi_valuetype t;
  if (v == nullptr || napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) {
    std::string msg = std::string(fn) + "(chain): chain must come from offloadChain()";
    napi_throw_type_error(env, "ERR_INVALID_ARG", msg.c_str());
    return nullptr;
  }
  return static_cast<std::shared_ptr<Chain>*>(p);
}

// offloadEnter(chain): this thread's offloaded calls are passes of `chain` until offloadLeave()
inline napi_value JsEnter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {nullptr};
  Registry* r = RegistryOf(env, info, &argc, argv);
  if (auto* chain = ChainOf(env, argv[0], "offloadEnter")) r->thisWaiter().chain = *chain;
  return nullptr;
}

// offloadRelease(chain): the asynchronous call is over; what its passes held is dropped now, not at GC
inline napi_value JsRelease(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {nullptr};
  RegistryOf(env, info, &argc, argv);
  if (auto* chain = ChainOf(env, argv[0], "offloadRelease")) (*chain)->Clear();
  return nullptr;
}

inline napi_value JsLeave(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Registry* r = RegistryOf(env, info, &argc, nullptr);
  r->thisWaiter().chain.reset();
  return nullptr;
}

static inline void SetNum(napi_env env, napi_value o, const char* k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

// nativeCalls() -> [{ id, what, tid, callTid, ageMs, abandoned }]: calls running on call threads now
inline napi_value JsCalls(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Registry* r = RegistryOf(env, info, &argc, nullptr);
  auto calls = r->Calls();
  napi_value arr;
  napi_create_array_with_length(env, calls.size(), &arr);
  for (size_t i = 0; i < calls.size(); i++) {
    napi_value o, s, b;
    napi_create_object(env, &o);
    SetNum(env, o, "id", static_cast<double>(calls[i].id));
    napi_create_string_utf8(env, calls[i].what.c_str(), NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "what", s);
    SetNum(env, o, "tid", static_cast<double>(calls[i].tid));
    SetNum(env, o, "callTid", static_cast<double>(calls[i].callTid));
    SetNum(env, o, "ageMs", calls[i].ageMs);
    napi_get_boolean(env, calls[i].abandoned, &b);
    napi_set_named_property(env, o, "abandoned", b);
    napi_get_boolean(env, calls[i].async, &b);
    napi_set_named_property(env, o, "async", b);
    napi_set_element(env, arr, static_cast<uint32_t>(i), o);
  }
  return arr;
}

// nativeCallStats() -> { calls, abandoned, abandonedReturned, callThreads, asyncPending }
inline napi_value JsStats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Registry* r = RegistryOf(env, info, &argc, nullptr);
  auto s = r->GetStats();
  napi_value o;
  napi_create_object(env, &o);
  SetNum(env, o, "calls", static_cast<double>(s.calls));
  SetNum(env, o, "abandoned", static_cast<double>(s.abandoned));
  SetNum(env, o, "abandonedReturned", static_cast<double>(s.abandonedReturned));
  SetNum(env, o, "callThreads", s.callThreads);
  SetNum(env, o, "asyncPending", s.asyncPending);
  return o;
}

/** Export the control face (abandon*, nativeCalls, nativeCallStats) and the chain functions bound to `r`. */
inline void ExportControl(napi_env env, napi_value exports, Registry* r, Waiter& (*thisWaiter)()) {
  r->thisWaiter = thisWaiter;
  struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"abandonNativeCall", JsAbandon}, {"abandonAsyncCalls", JsAbandonAsync}, {"abandonCall", JsAbandonCall},
             {"nativeCalls", JsCalls}, {"nativeCallStats", JsStats},
             {"offloadChain", JsChain}, {"offloadEnter", JsEnter}, {"offloadLeave", JsLeave}, {"offloadRelease", JsRelease}};
  for (auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, r, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
}

}  // namespace offload
