// The process-wide connection table: open (with SASL-style credentials, read-only flag, keepalive and a
// close callback), close, and per-call references. Ids are plain integers, so a connection opened in one
// thread is used by every worker; each connection keeps a cache of domain pointers by UUID. A loss is
// reported once per connection, by whichever comes first: libvirt's close callback or a call that finds
// the connection dead on its way out of libvirt.
#include "virt.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

namespace virt {

struct ConnEntry {
  int id = 0;
  virConnectPtr conn = nullptr;  // the table's own reference
  std::string uri;
  bool readOnly = false;
  std::string keepalive = "off";  // off | on | unsupported
  std::atomic<int> inFlight{0};   // calls holding a ConnRef right now
  std::mutex mu;                  // guards everything below
  bool closed = false;            // the loss was reported (close callback or a call found it dead)
  int closeReason = -1;
  int active = 0;                 // threads inside a libvirt call on this connection (ConnRef::Run)
  unsigned long long drains = 0;  // calls that waited for the others to leave libvirt (diagnostics)
  unsigned long long drainTimeouts = 0;
  std::condition_variable idle;   // signalled when `active` drops to 0
  std::unordered_map<std::string, virDomainPtr> domains;
  std::vector<std::weak_ptr<CloseListener>> listeners;
};

namespace {

struct Table {
  std::mutex mu;
  int nextId = 1;
  std::unordered_map<int, std::shared_ptr<ConnEntry>> entries;
};

Table& table() {
  // Process-wide by design (ids cross worker threads) and never destroyed: the event-loop thread may
  // still run a close callback while static destructors run at process exit.
  static Table* t = new Table();
  return *t;
}

std::shared_ptr<ConnEntry> FindEntry(int id) {
  std::lock_guard<std::mutex> lock(table().mu);
  auto it = table().entries.find(id);
  return it == table().entries.end() ? nullptr : it->second;
}

struct Credentials {
  bool hasUser = false, hasPass = false;
  std::string user, pass;
};

int AuthCallback(virConnectCredentialPtr cred, unsigned int ncred, void* cbdata) {
  auto* c = static_cast<Credentials*>(cbdata);
  for (unsigned int i = 0; i < ncred; i++) {
    const std::string* value = nullptr;
    if (cred[i].type == VIR_CRED_AUTHNAME && c->hasUser) value = &c->user;
    if (cred[i].type == VIR_CRED_PASSPHRASE && c->hasPass) value = &c->pass;
    if (!value) return -1;  // never prompt: a daemon has nobody to ask
    cred[i].result = strdup(value->c_str());  // libvirt frees it
    if (!cred[i].result) return -1;
    cred[i].resultlen = static_cast<unsigned int>(value->size());
  }
  return 0;
}

/** Report the loss of `e` to its listeners and the watchers, once; the caller holds no lock. */
void ReportClosed(ConnEntry& e, int reason, const std::string& message) {
  std::vector<std::shared_ptr<CloseListener>> live;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    if (e.closed) return;
    e.closed = true;
    e.closeReason = reason;
    for (auto& w : e.listeners)
      if (auto l = w.lock()) live.push_back(l);
  }
  for (auto& l : live) l->OnConnectionClosed(e.id, reason, message);
  NotifyWatchers(e.id, reason, message);
}

const char* CloseReasonText(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR: return "connection error";
    case VIR_CONNECT_CLOSE_REASON_EOF: return "end of file from libvirt";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive timeout";
    case VIR_CONNECT_CLOSE_REASON_CLIENT: return "closed by the client";
    default: return "unknown reason";
  }
}

void CloseCallback(virConnectPtr, int reason, void* opaque) {
  // Runs on whichever thread libvirt notices the loss on (the event loop, or a thread inside a call).
  int id = *static_cast<int*>(opaque);
  auto e = FindEntry(id);
  if (e) ReportClosed(*e, reason, CloseReasonText(reason));
}

void FreeIdOpaque(void* p) { delete static_cast<int*>(p); }

// open(uri, { readOnly?, authName?, passphrase?, keepaliveInterval?, keepaliveCount? }) -> id
Napi::Value Open(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string uri = ArgStr(info, 0, "uri");
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  Credentials creds;
  if (opts.Get("authName").IsString()) { creds.hasUser = true; creds.user = opts.Get("authName").As<Napi::String>(); }
  if (opts.Get("passphrase").IsString()) { creds.hasPass = true; creds.pass = opts.Get("passphrase").As<Napi::String>(); }
  bool readOnly = opts.Get("readOnly").ToBoolean();
  int kaInterval = opts.Get("keepaliveInterval").IsNumber() ? opts.Get("keepaliveInterval").As<Napi::Number>().Int32Value() : 0;
  unsigned int kaCount = opts.Get("keepaliveCount").IsNumber() ? opts.Get("keepaliveCount").As<Napi::Number>().Uint32Value() : 5;

  int credTypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE};
  virConnectAuth auth = {credTypes, 2, AuthCallback, &creds};
  DropStashedError();  // an earlier call's error must not stand in for this one's
  virConnectPtr conn = virConnectOpenAuth(uri.c_str(), &auth, readOnly ? VIR_CONNECT_RO : 0);
  if (!conn) throw LastError(env, "virConnectOpenAuth");

  auto e = std::make_shared<ConnEntry>();
  e->conn = conn;
  e->uri = uri;
  e->readOnly = readOnly;
  if (kaInterval > 0) {
    int rc = virConnectSetKeepAlive(conn, kaInterval, kaCount);
    e->keepalive = rc == 0 ? "on" : "unsupported";  // local drivers (test://) have no keepalive
  }
  {
    std::lock_guard<std::mutex> lock(table().mu);
    e->id = table().nextId++;
    table().entries[e->id] = e;
  }
  // Local drivers accept the registration and never call it; remote ones call it on loss.
  virConnectRegisterCloseCallback(conn, CloseCallback, new int(e->id), FreeIdOpaque);
  return Napi::Number::New(env, e->id);
}

// close(id) -> true when it was open. Calls in flight keep their own reference; the last one frees.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int id = ArgInt(info, 0, "conn");
  std::shared_ptr<ConnEntry> e;
  {
    std::lock_guard<std::mutex> lock(table().mu);
    auto it = table().entries.find(id);
    if (it == table().entries.end()) return Napi::Boolean::New(info.Env(), false);
    e = it->second;
    table().entries.erase(it);
  }
  std::unordered_map<std::string, virDomainPtr> doms;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    doms.swap(e->domains);
  }
  for (auto& [uuid, d] : doms) virDomainFree(d);
  virConnectUnregisterCloseCallback(e->conn, CloseCallback);
  // The table's own reference goes like a call's: if it is the last one, the close RPC is a call.
  e->inFlight++;
  { ConnRef last(e, e->conn, true); }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Object EntryInfo(Napi::Env env, ConnEntry& e) {
  auto o = Napi::Object::New(env);
  o.Set("id", e.id);
  o.Set("uri", e.uri);
  o.Set("readOnly", e.readOnly);
  o.Set("keepalive", e.keepalive);
  std::lock_guard<std::mutex> lock(e.mu);
  o.Set("closed", e.closed);
  o.Set("closeReason", e.closeReason);
  o.Set("cachedDomains", static_cast<double>(e.domains.size()));
  o.Set("inFlight", e.inFlight.load());
  o.Set("active", e.active);
  o.Set("drains", static_cast<double>(e.drains));
  o.Set("drainTimeouts", static_cast<double>(e.drainTimeouts));
  return o;
}

// connectionInfo(id) -> { id, uri, readOnly, keepalive, closed, closeReason, alive, cachedDomains }
Napi::Value ConnectionInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  ConnRef c = AcquireConn(env, ArgInt(info, 0, "conn"));
  bool alive = virConnectIsAlive(c.get()) == 1;  // local check, no round trip
  auto o = EntryInfo(env, c.entry());
  o.Set("alive", alive);
  return o;
}

// connections() -> the table, for diagnostics
Napi::Value Connections(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::vector<std::shared_ptr<ConnEntry>> all;
  {
    std::lock_guard<std::mutex> lock(table().mu);
    for (auto& [id, e] : table().entries) all.push_back(e);
  }
  auto a = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); i++) a.Set(static_cast<uint32_t>(i), EntryInfo(env, *all[i]));
  return a;
}

// holdConnection(id, ms, fail?): hold a connection reference for ms on the calling thread's call
// thread (like any libvirt call, so a worker waiting here can be let go), then (fail=true) make a real
// libvirt call that fails and throw its error: the model of a libvirt call stuck in the daemon that
// eventually fails (diagnostics and tests only).
Napi::Value HoldConnection(const Napi::CallbackInfo& info) {
  ConnRef c = AcquireConn(info.Env(), ArgInt(info, 0, "conn"));
  double ms = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  bool fail = info.Length() > 2 && info[2].ToBoolean();
  struct Held {
    DomRef dom;
    SavedError error;
  };
  // The hold happens outside libvirt (not counted as active on the connection), the failing call inside.
  auto body = [share = AcquireConn(info.Env(), c.id()), ms, fail]() mutable {
    struct timespec req;
    req.tv_sec = static_cast<time_t>(ms / 1000);
    req.tv_nsec = static_cast<long>((ms - req.tv_sec * 1000.0) * 1e6);
    struct timespec rem;
    while (nanosleep(&req, &rem) == -1 && errno == EINTR) req = rem;
    DomRef d;
    if (fail) d = DomRef(share.RunHere([&] { return virDomainLookupByUUIDString(share.get(), "00000000-0000-0000-0000-000000000000"); }));
    return Held{std::move(d), TakeStashedError()};
  };
  auto job = Offload<Held>(info.Env(), "holdConnection", std::string(), [&] { return std::move(body); });
  Held held = job->Take();
  AdoptError(std::move(held.error));
  if (fail && !held.dom.get()) c.Fail(info.Env(), "virDomainLookupByUUIDString");
  return info.Env().Undefined();
}

// threadId() -> the calling OS thread's id (tells workers apart from the main thread in tests)
Napi::Value ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

}  // namespace

namespace {

ConnRef Take(Napi::Env env, int id, bool call) {
  std::lock_guard<std::mutex> lock(table().mu);
  auto it = table().entries.find(id);
  if (it == table().entries.end()) {
    auto err = Napi::Error::New(env, "libvirt connection " + std::to_string(id) + " is not open");
    err.Value().Set("code", "ERR_LIBVIRT_NO_CONNECTION");
    throw err;
  }
  virConnectRef(it->second->conn);
  if (call) it->second->inFlight++;
  return ConnRef(it->second, it->second->conn, call);
}

}  // namespace

// In a chain pass (the asynchronous entry) the connection is taken once, in the first pass, and held by
// the chain until the call is over: a later pass converting the result needs it even if close() took
// it out of the table meanwhile (as a synchronous call holds it for its whole length).
ConnRef AcquireConn(Napi::Env env, int id) {
  offload::Waiter& w = ThisWaiter();
  if (!w.chain) return Take(env, id, true);
  const std::string key = "conn:" + std::to_string(id);
  if (ConnRef* held = w.chain->Pinned<ConnRef>(key)) return held->Share();
  ConnRef ref = Take(env, id, true);
  w.chain->Pin(key, std::make_shared<ConnRef>(ref.Share()));
  return ref;
}
ConnRef HoldConn(Napi::Env env, int id) { return Take(env, id, false); }

ConnRef::~ConnRef() {
  if (!conn_) return;
  if (call_) entry_->inFlight--;
  // The last reference of a closed connection disposes it here (a close RPC when still open): nobody
  // else holds the connection then, and it may be freed, so no liveness check follows.
  {
    std::lock_guard<std::mutex> lock(entry_->mu);
    entry_->active++;
  }
  virConnectPtr c = conn_;
  Deep([c] { return virConnectClose(c); });
  std::lock_guard<std::mutex> lock(entry_->mu);
  if (--entry_->active == 0) entry_->idle.notify_all();
}

ConnRef ConnRef::Share() const {
  virConnectRef(conn_);
  entry_->inFlight++;
  return ConnRef(entry_, conn_, true);
}

void ConnRef::Enter() {
  DropStashedError();
  std::lock_guard<std::mutex> lock(entry_->mu);
  entry_->active++;
}

// How long a call that found its connection dead waits for the other threads to leave libvirt. They
// leave within one I/O-loop iteration of a closed client, or as soon as the daemon answers or dies; a
// frozen daemon can hold them longer, and a discarded worker may linger here until then.
constexpr auto kDrainLimit = std::chrono::minutes(10);

void ConnRef::Leave() {
  StashLastError();  // virConnectIsAlive resets it
  bool alive = virConnectIsAlive(conn_) == 1;
  ConnEntry& e = *entry_;
  if (!alive) {
    std::string why = LastErrorMessage();
    ReportClosed(e, -1, why.empty() ? "a call found the connection closed" : why);
  }
  std::unique_lock<std::mutex> lock(e.mu);
  if (--e.active == 0) e.idle.notify_all();
  if (alive || e.active == 0) return;
  e.drains++;
  if (!e.idle.wait_for(lock, kDrainLimit, [&] { return e.active == 0; })) e.drainTimeouts++;
}

void AddCloseListener(int connId, const std::shared_ptr<CloseListener>& l) {
  auto e = FindEntry(connId);
  if (!e) return;
  std::lock_guard<std::mutex> lock(e->mu);
  e->listeners.erase(std::remove_if(e->listeners.begin(), e->listeners.end(), [](auto& w) { return w.expired(); }),
                     e->listeners.end());
  e->listeners.push_back(l);
}

int ConnRef::id() const { return entry_->id; }

DomRef ConnRef::Cached(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(entry_->mu);
  auto it = entry_->domains.find(uuid);
  if (it == entry_->domains.end()) return DomRef();
  virDomainRef(it->second);
  return DomRef(it->second);
}

DomRef ConnRef::Domain(Napi::Env env, const std::string& uuid) {
  if (DomRef cached = Cached(uuid); cached.get()) return cached;
  DomRef d = Run(env, "virDomainLookupByUUIDString",
                 [uuid](virConnectPtr c) { return DomRef(virDomainLookupByUUIDString(c, uuid.c_str())); }, uuid);
  if (!d.get()) throw LastError(env, "virDomainLookupByUUIDString");
  Remember(d.get());
  return d;
}

void ConnRef::Remember(virDomainPtr d) {
  std::string uuid = DomainUUID(d);
  virDomainRef(d);
  virDomainPtr old = nullptr;
  {
    std::lock_guard<std::mutex> lock(entry_->mu);
    auto& slot = entry_->domains[uuid];
    old = slot;
    slot = d;
  }
  if (old) virDomainFree(old);
}

void ConnRef::Forget(const std::string& uuid) {
  virDomainPtr old = nullptr;
  {
    std::lock_guard<std::mutex> lock(entry_->mu);
    auto it = entry_->domains.find(uuid);
    if (it == entry_->domains.end()) return;
    old = it->second;
    entry_->domains.erase(it);
  }
  virDomainFree(old);
}

void ConnRef::ReplaceCache(virDomainPtr* doms, int n) {
  std::unordered_map<std::string, virDomainPtr> fresh;
  for (int i = 0; i < n; i++) {
    virDomainRef(doms[i]);
    fresh[DomainUUID(doms[i])] = doms[i];
  }
  {
    std::lock_guard<std::mutex> lock(entry_->mu);
    fresh.swap(entry_->domains);
  }
  for (auto& [uuid, d] : fresh) virDomainFree(d);  // the old cache, freed outside the lock
}

void ConnRef::Fail(Napi::Env env, const char* what, const std::string* uuid) {
  Napi::Error err = LastError(env, what);
  if (uuid && LastErrorCode() == VIR_ERR_NO_DOMAIN) Forget(*uuid);
  throw err;
}

std::string DomainUUID(virDomainPtr d) {
  char buf[VIR_UUID_STRING_BUFLEN] = {0};
  virDomainGetUUIDString(d, buf);
  return buf;
}

Napi::Object DomainSummary(Napi::Env env, virDomainPtr d) {
  auto o = Napi::Object::New(env);
  o.Set("uuid", DomainUUID(d));
  const char* name = virDomainGetName(d);
  o.Set("name", name ? name : "");
  unsigned int id = virDomainGetID(d);
  o.Set("id", id == static_cast<unsigned int>(-1) ? -1.0 : static_cast<double>(id));
  return o;
}

void RegisterConnectionFunctions(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {
      {"open", Open},
      {"close", Close},
      {"connectionInfo", ConnectionInfo},
      {"connections", Connections},
      {"holdConnection", HoldConnection},
      {"threadId", ThreadId},
  });
}

}  // namespace virt
