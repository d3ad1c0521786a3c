// Entry point of the libvirt binding (placeholder until the binding lands: exports the library version).
#include <napi.h>
#include <libvirt/libvirt.h>

static Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  unsigned long v = 0;
  virGetVersion(&v, nullptr, nullptr);
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("libVersion", Napi::Function::New(env, LibVersion));
  return exports;
}

NODE_API_MODULE(virt, Init)
