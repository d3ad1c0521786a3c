// Process-wide libvirt start-up: virInitialize, a silent error handler (errors are read per call with
// virGetLastError), the default event implementation registered before any connection is opened, and
// one native thread running virEventRunDefaultImpl for keepalive, close callbacks and domain events.
#include "virt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace virt {

namespace {

std::once_flag initOnce;
std::atomic<bool> loopRunning{false};
std::atomic<long> loopThreadId{0};
std::atomic<unsigned long long> loopIterations{0};
std::atomic<unsigned long long> loopErrors{0};
int initError = 0;

void SilentErrorFunc(void*, virErrorPtr) {
  // libvirt's default handler prints to stderr; every call reads virGetLastError itself.
}

void RunLoop() {
  pthread_setname_np(pthread_self(), "libvirt/events");  // what top -H, ps -T and gdb show
  loopThreadId = static_cast<long>(syscall(SYS_gettid));
  loopRunning = true;
  for (;;) {
    if (virEventRunDefaultImpl() < 0) loopErrors++;
    loopIterations++;
  }
}

}  // namespace

// Node dlcloses an addon when the last environment that loaded it goes away (e.g. the only worker that
// used libvirt exits). The event-loop thread runs code from this library and from libvirt for the whole
// process life, so pin both in memory: reopen ourselves with RTLD_NODELETE.
void PinLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
}

void EnsureInitialized() {
  std::call_once(initOnce, [] {
    PinLibrary();
    if (virInitialize() < 0) initError = 1;
    virSetErrorFunc(nullptr, SilentErrorFunc);
    if (virEventRegisterDefaultImpl() < 0) initError = 2;
    // Detached: the loop lives as long as the process; libvirt offers no way to wake and stop it
    // that is safe while other threads may still hold connections.
    std::thread(RunLoop).detach();
  });
}

// eventLoopInfo(): { running, threadId, iterations, errors, initError }
Napi::Value EventLoopInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("running", loopRunning.load());
  o.Set("threadId", static_cast<double>(loopThreadId.load()));
  o.Set("iterations", static_cast<double>(loopIterations.load()));
  o.Set("errors", static_cast<double>(loopErrors.load()));
  o.Set("initError", initError);
  return o;
}

}  // namespace virt
