// Guest file-system freeze and thaw (through the guest agent, inside libvirtd) and external disk
// snapshots: the calls behind VM.freeze, VM.thaw and VM.snapshot. Each takes (conn, uuid, ...) and holds
// a connection reference throughout (DomainCall), like the other domain calls.
#include "virt.h"

namespace virt {

namespace {

using FsAction = int (*)(virDomainPtr, const char**, unsigned int, unsigned int);

// fsFreeze(conn, uuid, flags?) / fsThaw(conn, uuid, flags?) -> number of file systems frozen / thawed.
// Every mounted file system of the guest (no mount point list), as vdsm asks for.
template <FsAction A>
Napi::Value FsCall(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  unsigned int flags = call.Flags(2);
  const char* what = A == virDomainFSFreeze ? "virDomainFSFreeze" : "virDomainFSThaw";
  int n = call.Run(what, [flags](virDomainPtr d) { return A(d, nullptr, 0, flags); });
  if (n < 0) call.Fail(what);
  return Napi::Number::New(call.env(), n);
}

// snapshotCreateXML(conn, uuid, xml, flags?) -> the snapshot's name. The snapshot object is freed at
// once: with NO_METADATA libvirt keeps nothing to refer to it by afterwards.
Napi::Value SnapshotCreateXML(const Napi::CallbackInfo& info) {
  DomainCall call(info);
  std::string xml = call.Str(2, "xml");
  unsigned int flags = call.Flags(3);
  struct Out {
    bool ok = false;
    std::string name;
  };
  Out r = call.Run("virDomainSnapshotCreateXML", [xml, flags](virDomainPtr d) {
    Out o;
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(d, xml.c_str(), flags);
    if (snap == nullptr) return o;
    o.ok = true;
    const char* name = virDomainSnapshotGetName(snap);
    if (name != nullptr) o.name = name;
    virDomainSnapshotFree(snap);
    return o;
  });
  if (!r.ok) call.Fail("virDomainSnapshotCreateXML");
  return Napi::String::New(call.env(), r.name);
}

}  // namespace

void RegisterSnapshotFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"fsFreeze", FsCall<virDomainFSFreeze>},
      {"fsThaw", FsCall<virDomainFSThaw>},
      {"snapshotCreateXML", SnapshotCreateXML},
  });
}

}  // namespace virt
