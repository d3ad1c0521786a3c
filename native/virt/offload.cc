// The libvirt binding's call threads (native/offload/offload.h): every call that may talk to the daemon
// runs on a native thread of its calling JS thread (named virt/call), so an Executor worker stuck in a
// hung libvirt call can be let go and its isolate freed while only the call thread waits in libvirt.
#include "virt.h"

namespace virt {

namespace {

void Anchor() {}

offload::Waiter& ThisWaiter() {
  thread_local offload::LocalWaiter w(Offloader());
  return w.get();
}

}  // namespace

offload::Registry& Offloader() {
  // Never destroyed: abandoned call threads may still finish during process exit.
  static offload::Registry* r = new offload::Registry("virt/call", reinterpret_cast<const void*>(&Anchor));
  return *r;
}

void Offload(Napi::Env env, const std::shared_ptr<offload::Job>& job, const char* what) {
  switch (Offloader().Run(ThisWaiter(), job, what)) {
    case offload::Outcome::Done:
      return;
    case offload::Outcome::Abandoned: {
      auto err = Napi::Error::New(env, std::string("The libvirt call ") + what +
                                           " was abandoned: its worker was discarded after the task timed out; the call goes on in a virt/call thread");
      err.Value().Set("code", offload::kAbandonedCode);
      err.Value().Set("call", what);
      throw err;
    }
    case offload::Outcome::Failed:
      break;
  }
  auto err = Napi::Error::New(env, std::string(what) + " failed on its call thread (out of memory)");
  err.Value().Set("code", "ERR_LIBVIRT_INTERNAL_ERROR");
  throw err;
}

void RegisterOffloadFunctions(Napi::Env env, Napi::Object exports) {
  offload::ExportControl(env, exports, &Offloader());
}

}  // namespace virt
