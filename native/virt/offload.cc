// The libvirt binding's call threads (native/offload/offload.h): every call that may talk to the daemon
// runs on a native thread of its calling JS thread (named virt/call), so an Executor worker stuck in a
// hung libvirt call can be let go and its isolate freed while only the call thread waits in libvirt.
// Every binding function also has the asynchronous entry (a chain pass, see native/offload/offload.h):
// its offloaded call then throws ERR_NATIVE_CALL_PENDING and is taken, finished, in the next pass.
#include "virt.h"

namespace virt {

namespace {

void Anchor() {}

}  // namespace

offload::Waiter& ThisWaiter() {
  thread_local offload::LocalWaiter w(Offloader());
  return w.get();
}

offload::Registry& Offloader() {
  // Never destroyed: abandoned call threads may still finish during process exit.
  static offload::Registry* r = new offload::Registry("virt/call", reinterpret_cast<const void*>(&Anchor), "ERR_LIBVIRT_INTERNAL_ERROR");
  return *r;
}

void ThrowOffloadOutcome(Napi::Env env, offload::Outcome outcome, const char* what, napi_value pending) {
  switch (outcome) {
    case offload::Outcome::Done:
      return;
    case offload::Outcome::Pending:
      throw Napi::Error(env, pending);
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

bool IsOffloadError(const Napi::Error& e) {
  Napi::Value code = e.Value().Get("code");
  if (!code.IsString()) return false;
  std::string c = code.As<Napi::String>().Utf8Value();
  return c == offload::kPendingCode || c == offload::kAbandonedCode;
}

void RegisterOffloadFunctions(Napi::Env env, Napi::Object exports) {
  offload::ExportControl(env, exports, &Offloader(), &ThisWaiter);
}

}  // namespace virt
