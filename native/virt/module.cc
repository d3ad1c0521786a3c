// Entry point of the libvirt binding `virt`: a context-aware Node-API module (it loads in the main thread
// and in every worker_thread); libvirt start-up happens once per process, before any connection opens.
#include "virt.h"

NAPI_MODULE_INIT() {
  virt::EnsureInitialized();
  Napi::Env e(env);
  Napi::Object exp(env, exports);
  virt::RegisterConnectionFunctions(e, exp);
  virt::RegisterDomainFunctions(e, exp);
  virt::RegisterStatsFunctions(e, exp);
  virt::RegisterHostFunctions(e, exp);
  virt::RegisterAgentFunctions(e, exp);
  virt::RegisterEventFunctions(e, exp);
  virt::RegisterMigrationFunctions(e, exp);
  virt::RegisterSecretFunctions(e, exp);
  virt::RegisterSnapshotFunctions(e, exp);
  virt::RegisterOffloadFunctions(e, exp);
  virt::ExportAll(e, exp, {{"eventLoopInfo", virt::EventLoopInfo}, {"errorNames", virt::ErrorNames}});
  return exports;
}
