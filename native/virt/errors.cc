// libvirt errors as JS errors: libvirt's numeric code, domain and message, plus a stable string code
// (ERR_LIBVIRT_<NAME>, names generated from libvirt-api.xml into error-names.inc).
#include "virt.h"

#include <unordered_map>

#include "error-names.inc"

namespace virt {

namespace {

const std::unordered_map<int, const char*>& NumberNames() {
  static const std::unordered_map<int, const char*> names = {
#define X(v, n) {v, n},
      VIRT_ERROR_NUMBERS(X)
#undef X
  };
  return names;
}

const std::unordered_map<int, const char*>& DomainNames() {
  static const std::unordered_map<int, const char*> names = {
#define X(v, n) {v, n},
      VIRT_ERROR_DOMAINS(X)
#undef X
  };
  return names;
}

}  // namespace

std::string StableCode(int virCode) {
  auto it = NumberNames().find(virCode);
  return it == NumberNames().end() ? "ERR_LIBVIRT_" + std::to_string(virCode) : std::string("ERR_LIBVIRT_") + it->second;
}

namespace {

// The stashed copy of this thread's last error (see StashLastError); owned, freed on replacement.
thread_local virErrorPtr stashed = nullptr;

virErrorPtr CurrentError() {
  if (stashed) return stashed->code == VIR_ERR_OK ? nullptr : stashed;
  return virGetLastError();
}

}  // namespace

void StashLastError() {
  DropStashedError();
  virErrorPtr e = virGetLastError();
  if (e) stashed = virSaveLastError();
}

void DropStashedError() {
  if (stashed) virFreeError(stashed);
  stashed = nullptr;
}

SavedError TakeStashedError() {
  return SavedError(std::exchange(stashed, nullptr));
}

void AdoptError(SavedError e) {
  DropStashedError();
  // A stale error of an earlier local call on this thread must not stand in for a call without one.
  virResetLastError();
  stashed = e.release();
}

std::string LastErrorMessage() {
  virErrorPtr e = CurrentError();
  return e && e->message ? e->message : std::string();
}

int LastErrorCode() {
  virErrorPtr e = CurrentError();
  return e ? e->code : 0;
}

Napi::Error LastError(Napi::Env env, const char* what) {
  // virGetLastError is thread-local and reset by the next public libvirt call: read it right away
  // (or the copy stashed when the call left libvirt).
  virErrorPtr e = CurrentError();
  int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
  int domain = e ? e->domain : 0;
  std::string message = e && e->message ? e->message : std::string(what) + " failed with no libvirt error set";
  auto err = Napi::Error::New(env, message);
  Napi::Object o = err.Value();
  o.Set("code", StableCode(code));
  o.Set("virCode", code);
  o.Set("virDomain", domain);
  auto dn = DomainNames().find(domain);
  o.Set("virDomainName", dn == DomainNames().end() ? std::to_string(domain) : dn->second);
  o.Set("virMessage", message);
  o.Set("call", what);
  return err;
}

Napi::Error ArgError(Napi::Env env, const std::string& message) {
  auto err = Napi::TypeError::New(env, message);
  err.Value().Set("code", "ERR_INVALID_ARG");
  return err;
}

// errorNames(): { [virCode]: 'ERR_LIBVIRT_<NAME>' } so JS can name codes without libvirt at hand.
Napi::Value ErrorNames(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  for (const auto& [v, n] : NumberNames()) out.Set(std::to_string(v), std::string("ERR_LIBVIRT_") + n);
  return out;
}

}  // namespace virt
