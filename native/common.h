// Helpers shared by the native bridge's source files: argument checks and errors that name the
// call, the value and (for system calls) the errno, e.g. "connect /tmp/x.sock: ECONNREFUSED".
#ifndef VQN_COMMON_H
#define VQN_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

// Largest integer a JS number holds exactly (2^53 - 1).
#define VQN_MAX_SAFE_INT 9007199254740991LL

// Throws an Error whose message is "<what>: <ENAME> (<strerror>)" and whose .code is ENAME.
// Returns NULL so callers can `return vqn_throw_errno(...)`.
napi_value vqn_throw_errno(napi_env env, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Throws a RangeError (code ERR_OUT_OF_RANGE) / TypeError (code ERR_INVALID_ARG_TYPE).
napi_value vqn_throw_range(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
napi_value vqn_throw_type(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Throws a plain Error with a given code.
napi_value vqn_throw_code(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Reads exactly `want` arguments (missing ones are a TypeError naming `fn`).
bool vqn_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, napi_value *self,
              const char *fn);
// A whole number in [min, max] (a JS number).
bool vqn_int(napi_env env, napi_value v, const char *fn, const char *what, int64_t min, int64_t max,
             int64_t *out);
// A whole number in [0, 2^64 - 1]: a bigint, or a JS number up to 2^53 - 1.
bool vqn_u64(napi_env env, napi_value v, const char *fn, const char *what, uint64_t *out);
// A file descriptor: a whole number in [0, INT32_MAX].
bool vqn_fd(napi_env env, napi_value v, const char *fn, int *out);
// A string that fits `cap` bytes including the terminating NUL.
bool vqn_string(napi_env env, napi_value v, const char *fn, const char *what, char *buf, size_t cap);
// A function.
bool vqn_function(napi_env env, napi_value v, const char *fn, const char *what);

napi_value vqn_number(napi_env env, double n);
napi_value vqn_bool(napi_env env, bool b);
napi_value vqn_undefined(napi_env env);
napi_value vqn_null(napi_env env);
bool vqn_set(napi_env env, napi_value obj, const char *name, napi_value v);
bool vqn_export(napi_env env, napi_value exports, const char *name, napi_callback cb);

// Checks a Node-API call; on failure throws (unless an exception is already pending) and
// returns `ret` from the calling function.
#define VQN_CALL(env, call, ret)                                     \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      vqn_napi_failed((env), #call);                                 \
      return ret;                                                    \
    }                                                                \
  } while (0)
void vqn_napi_failed(napi_env env, const char *call);

// Each source file registers its functions on the module's exports.
bool vqn_init_fd(napi_env env, napi_value exports);
bool vqn_init_mapping(napi_env env, napi_value exports);
bool vqn_init_eventfd(napi_env env, napi_value exports);
bool vqn_init_poll(napi_env env, napi_value exports);
bool vqn_init_unix(napi_env env, napi_value exports);
bool vqn_init_unix_msg(napi_env env, napi_value exports);
bool vqn_init_memory_faults(napi_env env, napi_value exports);

// Process-wide set of fds with a live poll watcher (poll.c): close() refuses them.
bool vqn_fd_watched(int fd);

#endif
