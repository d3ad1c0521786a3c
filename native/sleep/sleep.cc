// A native call that blocks in nanosleep(2): the stand-in for a hung native call in tests and benches.
// JS busy loops and Atomics.wait die on terminate() within ~10 ms; a thread inside a C call does not,
// and that is the behaviour the Executor must survive. Two kinds:
// - sleepMs(ms): blocks the calling JS thread itself, the stand-in for a call that cannot be offloaded
//   (a synchronous read of a hung mount in a storage operation): a discarded worker lingers whole.
// - sleepMsOffloaded(ms): runs on the calling thread's call thread (native/offload/offload.h), the
//   stand-in for a hung libvirt call: a discarded worker can be let go (abandonNativeCall) and exits,
//   while only the call thread lingers in nanosleep.
// - Both offloaded kinds also have the asynchronous entry (offloadChain/offloadEnter, see
//   native/offload/offload.h and workers/offloaded-call.ts), the one libvirt ops in workers use.
// - waitGate(id) / waitGateOffloaded(id) block the same two ways until openGate(id) (any thread): a
//   stuck call that lasts exactly as long as a test wants, whatever the machine's load.
#include <node_api.h>

#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <map>
#include <set>

#include "../offload/offload.h"

namespace {

void SleepFor(double ms) {
  struct timespec req;
  req.tv_sec = static_cast<time_t>(ms / 1000);
  req.tv_nsec = static_cast<long>((ms - req.tv_sec * 1000.0) * 1e6);
  struct timespec rem;
  while (nanosleep(&req, &rem) == -1 && errno == EINTR) req = rem;
}

bool ArgMs(napi_env env, napi_callback_info info, const char* fn, double* ms) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 1 || napi_get_value_double(env, argv[0], ms) != napi_ok || *ms < 0) {
    std::string msg = std::string(fn) + "(ms): ms must be a non-negative number";
    napi_throw_type_error(env, "ERR_INVALID_ARG", msg.c_str());
    return false;
  }
  return true;
}

napi_value SleepMs(napi_env env, napi_callback_info info) {
  double ms = 0;
  if (ArgMs(env, info, "sleepMs", &ms)) SleepFor(ms);
  return nullptr;
}

// Gates: process-wide, never freed (an abandoned call thread may wait on one at process exit).
struct Gates {
  std::mutex mu;
  std::condition_variable cv;
  std::set<int64_t> open;
  std::map<int64_t, int> waiting;  // calls inside WaitGate, per gate
};
Gates& gates() {
  static Gates* g = new Gates();
  return *g;
}

void WaitGate(int64_t id) {
  std::unique_lock<std::mutex> lock(gates().mu);
  gates().waiting[id]++;
  gates().cv.wait(lock, [&] { return gates().open.count(id) > 0; });
  if (--gates().waiting[id] == 0) gates().waiting.erase(id);
}

bool ArgGate(napi_env env, napi_callback_info info, const char* fn, int64_t* id) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 1 || napi_get_value_int64(env, argv[0], id) != napi_ok) {
    std::string msg = std::string(fn) + "(id): id must be a number";
    napi_throw_type_error(env, "ERR_INVALID_ARG", msg.c_str());
    return false;
  }
  return true;
}

napi_value WaitGateSync(napi_env env, napi_callback_info info) {
  int64_t id = 0;
  if (ArgGate(env, info, "waitGate", &id)) WaitGate(id);
  return nullptr;
}

// openGate(id): releases every call waiting on gate id, now and later.
napi_value OpenGate(napi_env env, napi_callback_info info) {
  int64_t id = 0;
  if (!ArgGate(env, info, "openGate", &id)) return nullptr;
  {
    std::lock_guard<std::mutex> lock(gates().mu);
    gates().open.insert(id);
  }
  gates().cv.notify_all();
  return nullptr;
}

// gateWaiters(id): how many calls wait on gate id right now (a test's condition: the call is inside).
napi_value GateWaiters(napi_env env, napi_callback_info info) {
  int64_t id = 0;
  if (!ArgGate(env, info, "gateWaiters", &id)) return nullptr;
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(gates().mu);
    auto it = gates().waiting.find(id);
    if (it != gates().waiting.end()) n = it->second;
  }
  napi_value out;
  napi_create_int32(env, n, &out);
  return out;
}

void Anchor() {}

offload::Registry& Calls() {
  static offload::Registry* r = new offload::Registry("sleep/call", reinterpret_cast<const void*>(&Anchor));
  return *r;
}

offload::Waiter& ThisWaiter() {
  thread_local offload::LocalWaiter w(Calls());
  return w.get();
}

/**
 * Run `f` on this thread's call thread; throws the abandonment error when the thread is let go meanwhile.
 * In a chain pass (the asynchronous entry) it throws ERR_NATIVE_CALL_PENDING instead of waiting, and
 * returns at once in the pass after the call finished.
 */
template <class F>
void Offloaded(napi_env env, const char* what, F f) {
  std::shared_ptr<offload::FnJob<int, F>> job;
  napi_value pending = nullptr;
  switch (Calls().Perform<int>(env, ThisWaiter(), what, std::string(), [&] { return std::move(f); }, &job, &pending)) {
    case offload::Outcome::Done:
      return;
    case offload::Outcome::Pending:
      napi_throw(env, pending);
      return;
    case offload::Outcome::Abandoned:
      offload::ThrowAbandoned(env, what);
      return;
    case offload::Outcome::Failed:
      napi_throw(env, offload::MakeError(env, "ERR_NATIVE_CALL_FAILED", std::string(what) + " failed on its call thread (out of memory)"));
      return;
  }
}

napi_value SleepMsOffloaded(napi_env env, napi_callback_info info) {
  double ms = 0;
  if (ArgMs(env, info, "sleepMsOffloaded", &ms)) Offloaded(env, "sleepMsOffloaded", [ms] { SleepFor(ms); return 0; });
  return nullptr;
}

napi_value WaitGateOffloaded(napi_env env, napi_callback_info info) {
  int64_t id = 0;
  if (ArgGate(env, info, "waitGateOffloaded", &id)) Offloaded(env, "waitGateOffloaded", [id] { WaitGate(id); return 0; });
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sleepMs", NAPI_AUTO_LENGTH, SleepMs, nullptr, &fn);
  napi_set_named_property(env, exports, "sleepMs", fn);
  struct {
    const char* name;
    napi_callback cb;
  } more[] = {{"sleepMsOffloaded", SleepMsOffloaded}, {"waitGate", WaitGateSync}, {"waitGateOffloaded", WaitGateOffloaded}, {"openGate", OpenGate}, {"gateWaiters", GateWaiters}};
  for (auto& m : more) {
    napi_create_function(env, m.name, NAPI_AUTO_LENGTH, m.cb, nullptr, &fn);
    napi_set_named_property(env, exports, m.name, fn);
  }
  offload::ExportControl(env, exports, &Calls(), &ThisWaiter);
  return exports;
}
