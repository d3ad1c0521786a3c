// The prologue every binding call shares: the connection reference taken from argument 0 for the
// call's lifetime, argument readers, the domain lookup of (conn, uuid, ...) calls, and the export table.
#include "virt.h"

namespace virt {

Call::Call(const Napi::CallbackInfo& info) : info_(info), ref_(AcquireConn(info.Env(), ArgInt(info, 0, "conn"))) {}

int Call::OptInt(size_t i, int fallback) const {
  if (i >= info_.Length() || info_[i].IsUndefined() || info_[i].IsNull()) return fallback;
  return ArgInt(info_, i, "argument");
}

double Call::Num(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) throw ArgError(env(), std::string(name) + " must be a number");
  return info_[i].As<Napi::Number>().DoubleValue();
}

std::optional<std::string> Call::OptString(size_t i) const {
  bool has = false;
  std::string s = ArgOptStr(info_, i, &has);
  if (!has) return std::nullopt;
  return s;
}

DomainCall::DomainCall(const Napi::CallbackInfo& info) : Call(info), uuid_(ArgStr(info, 1, "uuid")) {
  dom_ = ref_.Domain(env(), uuid_);
}

// Every export runs inside this guard. A Napi::Error leaving a binding function becomes the JS
// exception; but in a worker being terminated N-API may refuse to throw while an exception is already
// pending, and node-addon-api then throws again from inside its own catch handler: std::terminate,
// the whole agent aborted because a worker was stopped during a failing libvirt call. Seen once in
// the connection manager's tests (a control thread terminated after a failed open). Nothing can be
// thrown into a terminating worker anyway: the error is dropped then.
void ExportAll(Napi::Env env, Napi::Object exports, std::initializer_list<Export> fns) {
  for (const auto& f : fns) {
    auto fn = f.fn;
    exports.Set(f.name, Napi::Function::New(
                            env,
                            [fn](const Napi::CallbackInfo& info) -> Napi::Value {
                              try {
                                return fn(info);
                              } catch (const Napi::Error& e) {
                                try {
                                  e.ThrowAsJavaScriptException();
                                } catch (...) {
                                }
                                return Napi::Value();
                              }
                            },
                            f.name));
  }
}

}  // namespace virt
