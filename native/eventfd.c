// eventfd: the kick and call notifications of vhost-user. Create, write (add to the counter),
// read (take the counter, or one with EFD_SEMAPHORE); non-blocking reads give null instead of
// waiting. Watching one for readability is a poll watcher (poll.c) on its fd.
#include "common.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

// eventfdCreate(initial, flags) -> fd. flags: EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE.
static napi_value create_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t initial, flags;
  if (!vqn_args(env, info, 2, argv, NULL, "eventfdCreate")) return NULL;
  if (!vqn_int(env, argv[0], "eventfdCreate", "initial", 0, UINT32_MAX, &initial)) return NULL;
  if (!vqn_int(env, argv[1], "eventfdCreate", "flags", 0, INT32_MAX, &flags)) return NULL;
  if (flags & ~(int64_t)(EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE)) {
    return vqn_throw_range(env, "eventfdCreate: unknown flags 0x%llx", (unsigned long long)flags);
  }
  int fd = eventfd((unsigned int)initial, (int)flags);
  if (fd < 0) return vqn_throw_errno(env, errno, "eventfdCreate");
  return vqn_number(env, fd);
}

// eventfdWrite(fd, value): value is a number or a bigint in [1, 2^64 - 2]. Returns true, or
// false when the counter would overflow and the fd is non-blocking (EAGAIN).
static napi_value write_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  uint64_t value;
  if (!vqn_args(env, info, 2, argv, NULL, "eventfdWrite")) return NULL;
  if (!vqn_fd(env, argv[0], "eventfdWrite", &fd)) return NULL;
  if (!vqn_u64(env, argv[1], "eventfdWrite", "value", &value)) return NULL;
  if (value == 0 || value == UINT64_MAX) {
    return vqn_throw_range(env, "eventfdWrite: value must be in [1, 2^64 - 2]");
  }
  ssize_t n;
  do n = write(fd, &value, sizeof value); while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return vqn_bool(env, false);
  if (n < 0) return vqn_throw_errno(env, errno, "eventfdWrite fd %d", fd);
  if (n != sizeof value) return vqn_throw_errno(env, EINVAL, "eventfdWrite fd %d: short write", fd);
  return vqn_bool(env, true);
}

// eventfdRead(fd) -> bigint, or null when the counter is zero on a non-blocking fd (EAGAIN).
static napi_value read_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, "eventfdRead")) return NULL;
  if (!vqn_fd(env, argv[0], "eventfdRead", &fd)) return NULL;
  uint64_t value = 0;
  ssize_t n;
  do n = read(fd, &value, sizeof value); while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return vqn_null(env);
  if (n < 0) return vqn_throw_errno(env, errno, "eventfdRead fd %d", fd);
  if (n != sizeof value) return vqn_throw_errno(env, EINVAL, "eventfdRead fd %d: not an eventfd", fd);
  napi_value v;
  VQN_CALL(env, napi_create_bigint_uint64(env, value, &v), NULL);
  return v;
}

bool vqn_init_eventfd(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "eventfdCreate", create_js) &&
         vqn_export(env, exports, "eventfdWrite", write_js) &&
         vqn_export(env, exports, "eventfdRead", read_js) &&
         vqn_set(env, exports, "EFD_NONBLOCK", vqn_number(env, EFD_NONBLOCK)) &&
         vqn_set(env, exports, "EFD_CLOEXEC", vqn_number(env, EFD_CLOEXEC)) &&
         vqn_set(env, exports, "EFD_SEMAPHORE", vqn_number(env, EFD_SEMAPHORE));
}
