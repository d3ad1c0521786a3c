// A native call that blocks its calling thread in nanosleep(2): the stand-in for a hung libvirt or
// guest-channel call in tests and benches. JS busy loops and Atomics.wait die on terminate() within
// ~10 ms; a thread inside a C call does not, and that is the behaviour the Executor must survive.
#include <node_api.h>
#include <cerrno>
#include <ctime>

static napi_value SleepMs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double ms = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &ms) != napi_ok || ms < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "sleepMs(ms): ms must be a non-negative number");
    return nullptr;
  }
  struct timespec req;
  req.tv_sec = static_cast<time_t>(ms / 1000);
  req.tv_nsec = static_cast<long>((ms - req.tv_sec * 1000.0) * 1e6);
  struct timespec rem;
  while (nanosleep(&req, &rem) == -1 && errno == EINTR) req = rem;
  return nullptr;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sleepMs", NAPI_AUTO_LENGTH, SleepMs, nullptr, &fn);
  napi_set_named_property(env, exports, "sleepMs", fn);
  return exports;
}
