// Argument checking shared by every call: bad arguments throw ERR_INVALID_ARG before libvirt is called.
#include "virt.h"

#include <cstdlib>

namespace virt {

int ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw ArgError(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

unsigned int ArgFlags(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return 0;
  if (!info[i].IsNumber()) throw ArgError(info.Env(), "flags must be a number");
  return info[i].As<Napi::Number>().Uint32Value();
}

std::string ArgStr(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) throw ArgError(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::string ArgOptStr(const Napi::CallbackInfo& info, size_t i, bool* has) {
  *has = false;
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return std::string();
  if (!info[i].IsString()) throw ArgError(info.Env(), "optional argument must be a string or null");
  *has = true;
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Value TakeString(Napi::Env env, char* p) {
  if (!p) return env.Null();
  Napi::String s = Napi::String::New(env, p);
  free(p);
  return s;
}

}  // namespace virt
