// libvirt typed parameters (bulk stats, node stats, guest info, job-completed events) as plain JS
// objects with libvirt's flat keys ("block.0.rd.bytes"); 64-bit integers become Number.
#include "virt.h"

namespace virt {

namespace {

template <typename Put>
void EachParam(virTypedParameterPtr params, int n, Put&& put) {
  for (int i = 0; i < n; i++) {
    const virTypedParameter& p = params[i];
    switch (p.type) {
      case VIR_TYPED_PARAM_INT: put(p.field, Val::Num(p.value.i)); break;
      case VIR_TYPED_PARAM_UINT: put(p.field, Val::Num(p.value.ui)); break;
      case VIR_TYPED_PARAM_LLONG: put(p.field, Val::Num(static_cast<double>(p.value.l))); break;
      case VIR_TYPED_PARAM_ULLONG: put(p.field, Val::Num(static_cast<double>(p.value.ul))); break;
      case VIR_TYPED_PARAM_DOUBLE: put(p.field, Val::Num(p.value.d)); break;
      case VIR_TYPED_PARAM_BOOLEAN: put(p.field, Val::Bool(p.value.b != 0)); break;
      case VIR_TYPED_PARAM_STRING: put(p.field, Val::Str(p.value.s)); break;
      default: break;  // a type newer than this build: skip rather than guess
    }
  }
}

}  // namespace

Napi::Object TypedParamsToObject(Napi::Env env, virTypedParameterPtr params, int n) {
  auto o = Napi::Object::New(env);
  // Direct conversion (no Val tree): this is the bulk-stats hot path.
  for (int i = 0; i < n; i++) {
    const virTypedParameter& p = params[i];
    switch (p.type) {
      case VIR_TYPED_PARAM_INT: o.Set(p.field, Napi::Number::New(env, p.value.i)); break;
      case VIR_TYPED_PARAM_UINT: o.Set(p.field, Napi::Number::New(env, p.value.ui)); break;
      case VIR_TYPED_PARAM_LLONG: o.Set(p.field, Napi::Number::New(env, static_cast<double>(p.value.l))); break;
      case VIR_TYPED_PARAM_ULLONG: o.Set(p.field, Napi::Number::New(env, static_cast<double>(p.value.ul))); break;
      case VIR_TYPED_PARAM_DOUBLE: o.Set(p.field, Napi::Number::New(env, p.value.d)); break;
      case VIR_TYPED_PARAM_BOOLEAN: o.Set(p.field, Napi::Boolean::New(env, p.value.b != 0)); break;
      case VIR_TYPED_PARAM_STRING: o.Set(p.field, p.value.s ? Napi::Value(Napi::String::New(env, p.value.s)) : env.Null()); break;
      default: break;
    }
  }
  return o;
}

Val TypedParamsToVal(virTypedParameterPtr params, int n) {
  Val o = Val::Obj();
  EachParam(params, n, [&](const char* k, Val v) { o.Set(k, std::move(v)); });
  return o;
}

Napi::Value Val::ToJs(Napi::Env env) const {
  switch (t) {
    case T::Null: return env.Null();
    case T::Num: return Napi::Number::New(env, n);
    case T::Str: return Napi::String::New(env, s);
    case T::Bool: return Napi::Boolean::New(env, b);
    case T::Obj: {
      auto o = Napi::Object::New(env);
      for (const auto& [k, v] : obj) o.Set(k, v.ToJs(env));
      return o;
    }
    case T::Arr: {
      auto a = Napi::Array::New(env, arr.size());
      for (size_t i = 0; i < arr.size(); i++) a.Set(static_cast<uint32_t>(i), arr[i].ToJs(env));
      return a;
    }
  }
  return env.Null();
}

}  // namespace virt
