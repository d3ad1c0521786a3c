// Small Linux system calls Node does not expose: OS thread names (prctl PR_SET_NAME / PR_GET_NAME, so
// top -H, ps -T, /proc/<pid>/task/*/comm and gdb show each thread's role) and a unix socket peer's
// credentials (getsockopt SO_PEERCRED, so a privileged helper can check who connected), immediate
// TCP ACKs (setsockopt TCP_QUICKACK, see src/rpc/quick-ack.ts) and heap trimming (malloc_trim, see
// src/runtime/memory-relief.ts).
#include <node_api.h>
#include <dlfcn.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <string>

static void ThrowErrno(napi_env env, const char* what, int err) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  napi_value code, message, error, errnoValue;
  napi_create_string_utf8(env, "ERR_NATIVE_SYSCALL", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg.c_str(), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
}

// setThreadName(name): names the calling OS thread; the kernel keeps 15 bytes, longer names are cut.
static napi_value SetThreadName(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[16] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "setThreadName(name): name must be a string");
    return nullptr;
  }
  if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0) ThrowErrno(env, "prctl(PR_SET_NAME)", errno);
  return nullptr;
}

// getThreadName(): the calling OS thread's name.
static napi_value GetThreadName(napi_env env, napi_callback_info info) {
  char name[17] = {0};
  if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0) {
    ThrowErrno(env, "prctl(PR_GET_NAME)", errno);
    return nullptr;
  }
  napi_value result;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result);
  return result;
}

// The one argument of a socket call: a non-negative descriptor. Throws a TypeError with `message` and
// returns false when it is not one.
static bool FdArgument(napi_env env, napi_callback_info info, const char* message, int32_t* fd) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  *fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", message);
    return false;
  }
  return true;
}

// peerCredentials(fd): {pid, uid, gid} of the process at the other end of a connected unix socket, as
// the kernel recorded them when it connected (they cannot be forged by the peer).
static napi_value PeerCredentials(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!FdArgument(env, info, "peerCredentials(fd): fd must be a non-negative integer", &fd)) return nullptr;
  struct ucred cred;
  socklen_t size = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    ThrowErrno(env, "getsockopt(SO_PEERCRED)", errno);
    return nullptr;
  }
  napi_value result, pid, uid, gid;
  napi_create_object(env, &result);
  napi_create_int32(env, cred.pid, &pid);
  napi_create_uint32(env, cred.uid, &uid);
  napi_create_uint32(env, cred.gid, &gid);
  napi_set_named_property(env, result, "pid", pid);
  napi_set_named_property(env, result, "uid", uid);
  napi_set_named_property(env, result, "gid", gid);
  return result;
}

// tcpQuickAck(fd): true when TCP_QUICKACK was set. The kernel then sends the ACK it is holding back at
// once and leaves delayed-ACK mode until it re-enters it on its own (the option is not sticky). Returns
// false instead of throwing when the descriptor is not (or no longer) a TCP socket: callers set it after
// every read and a socket closing under them is normal.
static napi_value TcpQuickAck(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!FdArgument(env, info, "tcpQuickAck(fd): fd must be a non-negative integer", &fd)) return nullptr;
  int one = 1;
  napi_value ok;
  napi_get_boolean(env, setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)) == 0, &ok);
  return ok;
}

// tryLock(fd): an exclusive flock on an open file without waiting; true when taken, false when another
// open file description holds it. The kernel drops the lock when the holder's descriptor closes, so a
// crashed process never leaves a stale lock behind (the single-instance lock of vdsmd).
static napi_value TryLock(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!FdArgument(env, info, "tryLock(fd): fd must be a non-negative integer", &fd)) return nullptr;
  napi_value result;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    napi_get_boolean(env, true, &result);
  } else if (errno == EWOULDBLOCK) {
    napi_get_boolean(env, false, &result);
  } else {
    ThrowErrno(env, "flock", errno);
    return nullptr;
  }
  return result;
}

// exitNow(code): end the process at once (_exit), without running exit handlers or joining threads;
// for a daemon whose worker threads are stuck in native calls and would make a normal exit wait.
static napi_value ExitNow(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t code = 0;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &code);
  _exit(code);
}

// trimHeap(): give free malloc memory back to the kernel (malloc_trim(0)): after a burst of connections
// closed, their TLS and buffer memory is free but stays in the process's heaps. True when some was
// released. A few milliseconds on a large heap; callers rate-limit it.
static napi_value TrimHeap(napi_env env, napi_callback_info) {
  napi_value released;
  napi_get_boolean(env, malloc_trim(0) == 1, &released);
  return released;
}

// addonLoaded(path): true when the shared object at `path` is already mapped in this process (loaded
// by any thread), without loading it (dlopen RTLD_NOLOAD).
static napi_value AddonLoaded(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char path[4096] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "addonLoaded(path): path must be a string");
    return nullptr;
  }
  void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  napi_value out;
  napi_get_boolean(env, h != nullptr, &out);
  return out;
}

NAPI_MODULE_INIT() {
  struct { const char* name; napi_callback fn; } fns[] = {
    {"setThreadName", SetThreadName},
    {"getThreadName", GetThreadName},
    {"peerCredentials", PeerCredentials},
    {"tcpQuickAck", TcpQuickAck},
    {"tryLock", TryLock},
    {"exitNow", ExitNow},
    {"trimHeap", TrimHeap},
    {"addonLoaded", AddonLoaded},
  };
  for (const auto& f : fns) {
    napi_value value;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &value);
    napi_set_named_property(env, exports, f.name, value);
  }
  return exports;
}
