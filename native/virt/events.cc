// Domain events and connection-loss notices delivered to JS. libvirt calls our callbacks on the native
// event-loop thread; each copies what it needs into an EventData and hands it to a thread-safe function
// owned by the JS environment (main thread or worker) that subscribed. An env cleanup hook deregisters a
// worker's subscriptions when it exits, so events after that are dropped instead of reaching a dead env.
// Connection watchers (watchConnections) get every connection loss without registering anything with
// libvirt, so the main thread hears of a loss even while the thread that opened the connection is stuck.
#include "virt.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

namespace virt {

namespace {

struct EventData {
  std::string event;
  int eventId = -1;
  int connId = 0;
  Val domain;  // null for connection events
  Val fields = Val::Obj();
};

void CallJs(Napi::Env env, Napi::Function cb, std::nullptr_t*, EventData* data);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, EventData, CallJs>;

// One JS-side subscription: the events it wants and the thread-safe function into its environment.
struct Subscription {
  int id = 0;
  int connId = 0;
  std::vector<int> eventIds;
  std::mutex mu;  // guards alive / finalized and every use of tsfn
  bool alive = true;
  bool finalized = false;
  Tsfn tsfn;

  bool Wants(int eventId) const {
    return eventId < 0 || std::find(eventIds.begin(), eventIds.end(), eventId) != eventIds.end();
  }

  void Post(std::unique_ptr<EventData> d) {
    std::lock_guard<std::mutex> lock(mu);
    if (!alive || finalized) return;
    if (tsfn.NonBlockingCall(d.get()) == napi_ok) d.release();
  }

  /** Stop delivery (on the owning JS thread); true the first time. */
  bool Stop() {
    std::lock_guard<std::mutex> lock(mu);
    if (!alive) return false;
    alive = false;
    if (!finalized) tsfn.Release();
    return true;
  }
};

using SubPtr = std::shared_ptr<Subscription>;

Val ClosedFields(int reason, const std::string& message) {
  return Val::Obj().Set("reason", Val::Num(reason)).Set("message", Val::Str(message.c_str()));
}

// libvirt refuses a second registration of the same callback function for the same event on one
// connection ("event callback already tracked"), so each connection gets one hub that registers each
// event id once and fans events out to every subscription (main thread, workers) that wants them.
struct Hub : CloseListener, std::enable_shared_from_this<Hub> {
  int connId = 0;
  std::unique_ptr<ConnRef> ref;  // own reference; null once the hub is retired
  std::mutex regMu;              // serializes (de)registration calls into libvirt
  std::map<int, int> callbacks;  // eventId -> libvirt callback id (guarded by regMu)
  std::mutex subsMu;             // guards subs; held only briefly (the event thread fans out under it)
  std::vector<SubPtr> subs;

  std::vector<SubPtr> Interested(int eventId) {
    std::lock_guard<std::mutex> lock(subsMu);
    std::vector<SubPtr> out;
    for (auto& s : subs)
      if (s->Wants(eventId)) out.push_back(s);
    return out;
  }

  void OnConnectionClosed(int cid, int reason, const std::string& message) override {
    for (auto& s : Interested(-1)) {
      auto d = std::make_unique<EventData>();
      d->event = "connection-closed";
      d->connId = cid;
      d->fields = ClosedFields(reason, message);
      s->Post(std::move(d));
    }
  }
};

using HubPtr = std::shared_ptr<Hub>;

struct Hubs {
  std::mutex mu;
  std::unordered_map<int, HubPtr> byConn;
  std::vector<SubPtr> watchers;  // watchConnections subscriptions (any connection, losses only)
};

Hubs& hubs() {
  static Hubs* h = new Hubs();  // process-wide like the connection table, and never destroyed either
  return *h;
}

void FreeHubOpaque(void* p) { delete static_cast<HubPtr*>(p); }
virConnectDomainEventGenericCallback CallbackFor(int eventId);

// Adds `sub` to its connection's hub, registering with libvirt the event ids nobody asked for yet.
void HubAdd(Napi::Env env, ConnRef& c, const SubPtr& sub) {
  for (;;) {
    HubPtr hub;
    {
      std::lock_guard<std::mutex> lock(hubs().mu);
      auto& slot = hubs().byConn[c.id()];
      if (!slot) {
        slot = std::make_shared<Hub>();
        slot->connId = c.id();
        slot->ref = std::make_unique<ConnRef>(HoldConn(env, c.id()));
        AddCloseListener(c.id(), slot);
      }
      hub = slot;
    }
    std::lock_guard<std::mutex> reg(hub->regMu);
    if (!hub->ref) continue;  // retired by a concurrent HubRemove: take the fresh one
    ConnRef& r = *hub->ref;
    for (int eventId : sub->eventIds) {
      if (hub->callbacks.count(eventId)) continue;
      int cbid = r.RunHere([&] { return virConnectDomainEventRegisterAny(r.get(), nullptr, eventId, CallbackFor(eventId), new HubPtr(hub), FreeHubOpaque); });
      if (cbid < 0) throw LastError(env, "virConnectDomainEventRegisterAny");
      hub->callbacks[eventId] = cbid;
    }
    std::lock_guard<std::mutex> lock(hub->subsMu);
    hub->subs.push_back(sub);
    return;
  }
}

// Removes `sub`; deregisters event ids no remaining subscription wants, and the hub when it is empty.
void HubRemove(const SubPtr& sub) {
  HubPtr hub;
  {
    std::lock_guard<std::mutex> lock(hubs().mu);
    auto it = hubs().byConn.find(sub->connId);
    if (it == hubs().byConn.end()) return;
    hub = it->second;
  }
  std::lock_guard<std::mutex> reg(hub->regMu);
  std::vector<int> stillWanted;
  bool empty;
  {
    std::lock_guard<std::mutex> lock(hub->subsMu);
    hub->subs.erase(std::remove(hub->subs.begin(), hub->subs.end(), sub), hub->subs.end());
    for (auto& s : hub->subs) stillWanted.insert(stillWanted.end(), s->eventIds.begin(), s->eventIds.end());
    empty = hub->subs.empty();
  }
  for (auto it = hub->callbacks.begin(); it != hub->callbacks.end();) {
    if (std::find(stillWanted.begin(), stillWanted.end(), it->first) != stillWanted.end()) { ++it; continue; }
    ConnRef& r = *hub->ref;
    int cbid = it->second;
    r.RunHere([&] { return virConnectDomainEventDeregisterAny(r.get(), cbid); });  // fails harmlessly on a dead connection
    it = hub->callbacks.erase(it);
  }
  if (!empty) return;
  {
    std::lock_guard<std::mutex> lock(hubs().mu);
    auto it = hubs().byConn.find(sub->connId);
    if (it != hubs().byConn.end() && it->second == hub) hubs().byConn.erase(it);
  }
  hub->ref.reset();
}

void Shutdown(const SubPtr& sub) {
  if (!sub->Stop()) return;
  if (sub->connId == 0) {
    std::lock_guard<std::mutex> lock(hubs().mu);
    auto& w = hubs().watchers;
    w.erase(std::remove(w.begin(), w.end(), sub), w.end());
    return;
  }
  HubRemove(sub);
}


// Per-environment state: the subscriptions this env owns.
struct AddonData {
  int nextId = 1;
  std::map<int, SubPtr> subs;
};

void CleanupEnv(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  for (auto& [id, sub] : data->subs) Shutdown(sub);
  data->subs.clear();
}

void CallJs(Napi::Env env, Napi::Function cb, std::nullptr_t*, EventData* data) {
  std::unique_ptr<EventData> d(data);
  if (env == nullptr || cb.IsEmpty()) return;  // the env is going away: drop the event
  // No C++ exception may leave this function (it is called from C). In an environment that is being
  // torn down (a terminating worker) every N-API call can fail: drop the event quietly then.
  try {
    auto o = Napi::Object::New(env);
    o.Set("event", d->event);
    o.Set("eventId", d->eventId);
    o.Set("conn", d->connId);
    if (d->domain.t != Val::T::Null) o.Set("domain", d->domain.ToJs(env));
    for (const auto& [k, v] : d->fields.obj) o.Set(k, v.ToJs(env));
    cb.Call({o});
  } catch (const Napi::Error& e) {
    try {
      e.ThrowAsJavaScriptException();  // a throwing JS callback surfaces as an uncaught exception
    } catch (...) {
    }
  } catch (...) {
  }
}

void FinalizeTsfn(Napi::Env, SubPtr* holder, std::nullptr_t*) {
  {
    std::lock_guard<std::mutex> lock((*holder)->mu);
    (*holder)->finalized = true;
  }
  delete holder;
}

void Emit(void* opaque, virDomainPtr dom, int eventId, const char* name, Val fields = Val::Obj()) {
  const HubPtr& hub = *static_cast<HubPtr*>(opaque);
  auto subs = hub->Interested(eventId);
  if (subs.empty()) return;
  Val domain = Val::Obj();
  domain.Set("uuid", Val::Str(DomainUUID(dom).c_str()));
  domain.Set("name", Val::Str(virDomainGetName(dom)));
  unsigned int id = virDomainGetID(dom);
  domain.Set("id", Val::Num(id == static_cast<unsigned int>(-1) ? -1.0 : static_cast<double>(id)));
  for (auto& sub : subs) {
    auto d = std::make_unique<EventData>();
    d->event = name;
    d->eventId = eventId;
    d->connId = hub->connId;
    d->domain = domain;
    d->fields = fields;
    sub->Post(std::move(d));
  }
}

Val Address(const virDomainEventGraphicsAddress* a) {
  if (!a) return Val();
  return Val::Obj().Set("family", Val::Num(a->family)).Set("node", Val::Str(a->node)).Set("service", Val::Str(a->service));
}

// One callback per event signature; names follow libvirt's VIR_DOMAIN_EVENT_ID_* in kebab case.
void OnLifecycle(virConnectPtr, virDomainPtr d, int event, int detail, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_LIFECYCLE, "lifecycle", Val::Obj().Set("type", Val::Num(event)).Set("detail", Val::Num(detail)));
}
void OnReboot(virConnectPtr, virDomainPtr d, void* op) { Emit(op, d, VIR_DOMAIN_EVENT_ID_REBOOT, "reboot"); }
void OnRtcChange(virConnectPtr, virDomainPtr d, long long offset, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_RTC_CHANGE, "rtc-change", Val::Obj().Set("utcOffset", Val::Num(static_cast<double>(offset))));
}
void OnWatchdog(virConnectPtr, virDomainPtr d, int action, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_WATCHDOG, "watchdog", Val::Obj().Set("action", Val::Num(action)));
}
void OnIoErrorReason(virConnectPtr, virDomainPtr d, const char* srcPath, const char* devAlias, int action, const char* reason, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON, "io-error-reason",
       Val::Obj().Set("srcPath", Val::Str(srcPath)).Set("devAlias", Val::Str(devAlias)).Set("action", Val::Num(action)).Set("reason", Val::Str(reason)));
}
void OnGraphics(virConnectPtr, virDomainPtr d, int phase, const virDomainEventGraphicsAddress* local,
                const virDomainEventGraphicsAddress* remote, const char* authScheme, const virDomainEventGraphicsSubject* subject, void* op) {
  Val ids = Val::Arr();
  for (int i = 0; subject && i < subject->nidentity; i++)
    ids.arr.push_back(Val::Obj().Set("type", Val::Str(subject->identities[i].type)).Set("name", Val::Str(subject->identities[i].name)));
  Emit(op, d, VIR_DOMAIN_EVENT_ID_GRAPHICS, "graphics",
       Val::Obj().Set("phase", Val::Num(phase)).Set("local", Address(local)).Set("remote", Address(remote))
           .Set("authScheme", Val::Str(authScheme)).Set("subject", std::move(ids)));
}
void OnBlockJob2(virConnectPtr, virDomainPtr d, const char* disk, int type, int status, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, "block-job-2",
       Val::Obj().Set("disk", Val::Str(disk)).Set("type", Val::Num(type)).Set("status", Val::Num(status)));
}
void OnJobCompleted(virConnectPtr, virDomainPtr d, virTypedParameterPtr params, int n, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, "job-completed", Val::Obj().Set("stats", TypedParamsToVal(params, n)));
}
void OnDeviceRemoved(virConnectPtr, virDomainPtr d, const char* alias, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, "device-removed", Val::Obj().Set("devAlias", Val::Str(alias)));
}
void OnDeviceAdded(virConnectPtr, virDomainPtr d, const char* alias, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, "device-added", Val::Obj().Set("devAlias", Val::Str(alias)));
}
void OnBlockThreshold(virConnectPtr, virDomainPtr d, const char* dev, const char* path, unsigned long long threshold,
                      unsigned long long excess, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD, "block-threshold",
       Val::Obj().Set("dev", Val::Str(dev)).Set("path", Val::Str(path))
           .Set("threshold", Val::Num(static_cast<double>(threshold))).Set("excess", Val::Num(static_cast<double>(excess))));
}
void OnAgentLifecycle(virConnectPtr, virDomainPtr d, int state, int reason, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, "agent-lifecycle", Val::Obj().Set("state", Val::Num(state)).Set("reason", Val::Num(reason)));
}
void OnMetadataChange(virConnectPtr, virDomainPtr d, int type, const char* nsuri, void* op) {
  Emit(op, d, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, "metadata-change", Val::Obj().Set("type", Val::Num(type)).Set("nsuri", Val::Str(nsuri)));
}

virConnectDomainEventGenericCallback CallbackFor(int eventId) {
  switch (eventId) {
    case VIR_DOMAIN_EVENT_ID_LIFECYCLE: return VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle);
    case VIR_DOMAIN_EVENT_ID_REBOOT: return VIR_DOMAIN_EVENT_CALLBACK(OnReboot);
    case VIR_DOMAIN_EVENT_ID_RTC_CHANGE: return VIR_DOMAIN_EVENT_CALLBACK(OnRtcChange);
    case VIR_DOMAIN_EVENT_ID_WATCHDOG: return VIR_DOMAIN_EVENT_CALLBACK(OnWatchdog);
    case VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON: return VIR_DOMAIN_EVENT_CALLBACK(OnIoErrorReason);
    case VIR_DOMAIN_EVENT_ID_GRAPHICS: return VIR_DOMAIN_EVENT_CALLBACK(OnGraphics);
    case VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2: return VIR_DOMAIN_EVENT_CALLBACK(OnBlockJob2);
    case VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: return VIR_DOMAIN_EVENT_CALLBACK(OnJobCompleted);
    case VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: return VIR_DOMAIN_EVENT_CALLBACK(OnDeviceRemoved);
    case VIR_DOMAIN_EVENT_ID_DEVICE_ADDED: return VIR_DOMAIN_EVENT_CALLBACK(OnDeviceAdded);
    case VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD: return VIR_DOMAIN_EVENT_CALLBACK(OnBlockThreshold);
    case VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE: return VIR_DOMAIN_EVENT_CALLBACK(OnAgentLifecycle);
    case VIR_DOMAIN_EVENT_ID_METADATA_CHANGE: return VIR_DOMAIN_EVENT_CALLBACK(OnMetadataChange);
    default: return nullptr;
  }
}

// domainEventsRegister(conn, eventIds, callback, { ref? }) -> subscription id (per JS environment).
// The callback also receives { event: 'connection-closed', reason } when libvirt reports the loss.
Napi::Value Register(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto* data = env.GetInstanceData<AddonData>();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  if (info.Length() < 2 || !info[1].IsArray()) throw ArgError(env, "eventIds must be an array of numbers");
  if (info.Length() < 3 || !info[2].IsFunction()) throw ArgError(env, "callback must be a function");
  Napi::Array ids = info[1].As<Napi::Array>();
  bool ref = info.Length() > 3 && info[3].IsObject() && info[3].As<Napi::Object>().Get("ref").ToBoolean();
  std::vector<int> eventIds;
  for (uint32_t i = 0; i < ids.Length(); i++) {
    Napi::Value v = ids.Get(i);
    if (!v.IsNumber() || !CallbackFor(v.As<Napi::Number>().Int32Value()))
      throw ArgError(env, "unsupported domain event id " + v.ToString().Utf8Value());
    eventIds.push_back(v.As<Napi::Number>().Int32Value());
  }

  auto sub = std::make_shared<Subscription>();
  sub->id = data->nextId++;
  sub->connId = c.id();
  sub->eventIds = eventIds;
  sub->tsfn = Tsfn::New(env, info[2].As<Napi::Function>(), "virt.domainEvents", 0, 1, nullptr, FinalizeTsfn, new SubPtr(sub));
  if (!ref) sub->tsfn.Unref(env);
  try {
    HubAdd(env, c, sub);
  } catch (...) {
    sub->Stop();
    HubRemove(sub);
    throw;
  }
  data->subs[sub->id] = sub;
  return Napi::Number::New(env, sub->id);
}

// watchConnections(callback, { ref? }) -> subscription id: callback({ event: 'connection-closed', conn,
// reason, message }) for every connection that is lost, whichever thread opened it. No libvirt call:
// safe on the main thread. Undo with domainEventsDeregister(id).
Napi::Value WatchConnections(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto* data = env.GetInstanceData<AddonData>();
  if (info.Length() < 1 || !info[0].IsFunction()) throw ArgError(env, "callback must be a function");
  bool ref = info.Length() > 1 && info[1].IsObject() && info[1].As<Napi::Object>().Get("ref").ToBoolean();
  auto sub = std::make_shared<Subscription>();
  sub->id = data->nextId++;
  sub->connId = 0;
  sub->eventIds = {};  // never in a hub: losses only
  sub->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "virt.connectionWatch", 0, 1, nullptr, FinalizeTsfn, new SubPtr(sub));
  if (!ref) sub->tsfn.Unref(env);
  {
    std::lock_guard<std::mutex> lock(hubs().mu);
    hubs().watchers.push_back(sub);
  }
  data->subs[sub->id] = sub;
  return Napi::Number::New(env, sub->id);
}

// domainEventsDeregister(subscriptionId) -> true when it was registered in this environment
Napi::Value Deregister(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto* data = env.GetInstanceData<AddonData>();
  int id = ArgInt(info, 0, "subscription");
  auto it = data->subs.find(id);
  if (it == data->subs.end()) return Napi::Boolean::New(env, false);
  SubPtr sub = it->second;
  data->subs.erase(it);
  Shutdown(sub);
  return Napi::Boolean::New(env, true);
}

// eventSubscriptions() -> this environment's subscriptions, for diagnostics
Napi::Value Subscriptions(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto* data = env.GetInstanceData<AddonData>();
  auto a = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& [id, sub] : data->subs) {
    auto o = Napi::Object::New(env);
    o.Set("id", id);
    o.Set("conn", sub->connId);
    o.Set("events", static_cast<double>(sub->eventIds.size()));
    a.Set(i++, o);
  }
  return a;
}

}  // namespace

void NotifyWatchers(int connId, int reason, const std::string& message) {
  std::vector<SubPtr> watchers;
  {
    std::lock_guard<std::mutex> lock(hubs().mu);
    watchers = hubs().watchers;
  }
  for (auto& w : watchers) {
    auto d = std::make_unique<EventData>();
    d->event = "connection-closed";
    d->connId = connId;
    d->fields = ClosedFields(reason, message);
    w->Post(std::move(d));
  }
}

void RegisterEventFunctions(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node when the env goes away
  napi_add_env_cleanup_hook(env, CleanupEnv, data);
  ExportAll(env, exports, {
      {"domainEventsRegister", Register},
      {"domainEventsDeregister", Deregister},
      {"eventSubscriptions", Subscriptions},
      {"watchConnections", WatchConnections},
  });
}

}  // namespace virt
