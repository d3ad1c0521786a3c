// Secrets (Host.registerSecrets / unregisterSecrets): define, set a value, undefine, list. Each takes
// (conn, ...) and runs on the connection's call thread like every other call. A secret's value is
// copied once into native memory for the call and wiped when the call is done.
#include "virt.h"

#include <cstring>
#include <memory>
#include <vector>

namespace virt {

namespace {

/** The secret bytes for one call, zeroed when the last reference goes (the call thread may hold it last). */
struct SecretBytes {
  std::vector<unsigned char> data;
  ~SecretBytes() {
    volatile unsigned char* p = data.data();
    for (size_t i = 0; i < data.size(); i++) p[i] = 0;
  }
};

struct SecretRef {
  virSecretPtr p = nullptr;
  explicit SecretRef(virSecretPtr s) : p(s) {}
  SecretRef(const SecretRef&) = delete;
  SecretRef& operator=(const SecretRef&) = delete;
  ~SecretRef() {
    if (p != nullptr) virSecretFree(p);
  }
};

// secretDefineXML(conn, xml, flags?) -> the secret's UUID
Napi::Value SecretDefineXML(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string xml = call.Str(1, "xml");
  unsigned int flags = call.Flags(2);
  struct Out {
    int rc = -1;
    std::string uuid;
  };
  Out o = call.Run("virSecretDefineXML", [xml, flags](virConnectPtr c) {
    Out out;
    SecretRef s(virSecretDefineXML(c, xml.c_str(), flags));
    if (s.p == nullptr) return out;
    char buf[VIR_UUID_STRING_BUFLEN];
    if (virSecretGetUUIDString(s.p, buf) == 0) {
      out.rc = 0;
      out.uuid = buf;
    }
    return out;
  });
  if (o.rc < 0) call.Fail("virSecretDefineXML");
  return Napi::String::New(call.env(), o.uuid);
}

// secretSetValue(conn, uuid, value: Uint8Array, flags?)
Napi::Value SecretSetValue(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string uuid = call.Str(1, "uuid");
  Napi::Value v = call.Arg(2);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) throw ArgError(call.env(), "value must be a Uint8Array");
  auto arr = v.As<Napi::Uint8Array>();
  auto bytes = std::make_shared<SecretBytes>();
  bytes->data.assign(arr.Data(), arr.Data() + arr.ByteLength());
  unsigned int flags = call.Flags(3);
  int rc = call.Run("virSecretSetValue", [uuid, bytes, flags](virConnectPtr c) {
    SecretRef s(virSecretLookupByUUIDString(c, uuid.c_str()));
    if (s.p == nullptr) return -1;
    return virSecretSetValue(s.p, bytes->data.data(), bytes->data.size(), flags);
  });
  if (rc < 0) call.Fail("virSecretSetValue");
  return call.env().Undefined();
}

// secretUndefine(conn, uuid)
Napi::Value SecretUndefine(const Napi::CallbackInfo& info) {
  Call call(info);
  std::string uuid = call.Str(1, "uuid");
  int rc = call.Run("virSecretUndefine", [uuid](virConnectPtr c) {
    SecretRef s(virSecretLookupByUUIDString(c, uuid.c_str()));
    if (s.p == nullptr) return -1;
    return virSecretUndefine(s.p);
  });
  if (rc < 0) call.Fail("virSecretUndefine");
  return call.env().Undefined();
}

// listAllSecrets(conn, flags?) -> [{ uuid, usageType, usageID }]
Napi::Value ListAllSecrets(const Napi::CallbackInfo& info) {
  Call call(info);
  unsigned int flags = call.Flags(1);
  struct Entry {
    std::string uuid;
    int usageType = 0;
    std::string usageID;
  };
  struct Out {
    int rc = -1;
    std::vector<Entry> list;
  };
  Out o = call.Run("virConnectListAllSecrets", [flags](virConnectPtr c) {
    Out out;
    virSecretPtr* secrets = nullptr;
    int n = virConnectListAllSecrets(c, &secrets, flags);
    if (n < 0) return out;
    for (int i = 0; i < n; i++) {
      Entry e;
      char buf[VIR_UUID_STRING_BUFLEN];
      if (virSecretGetUUIDString(secrets[i], buf) == 0) e.uuid = buf;
      e.usageType = virSecretGetUsageType(secrets[i]);
      const char* id = virSecretGetUsageID(secrets[i]);
      if (id != nullptr) e.usageID = id;
      out.list.push_back(std::move(e));
      virSecretFree(secrets[i]);
    }
    free(secrets);
    out.rc = 0;
    return out;
  });
  if (o.rc < 0) call.Fail("virConnectListAllSecrets");
  auto arr = Napi::Array::New(call.env(), o.list.size());
  for (size_t i = 0; i < o.list.size(); i++) {
    auto e = Napi::Object::New(call.env());
    e.Set("uuid", o.list[i].uuid);
    e.Set("usageType", o.list[i].usageType);
    e.Set("usageID", o.list[i].usageID);
    arr.Set(static_cast<uint32_t>(i), e);
  }
  return arr;
}

}  // namespace

void RegisterSecretFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"secretDefineXML", SecretDefineXML},
      {"secretSetValue", SecretSetValue},
      {"secretUndefine", SecretUndefine},
      {"listAllSecrets", ListAllSecrets},
  });
}

}  // namespace virt
