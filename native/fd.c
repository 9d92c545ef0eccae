// File descriptors Node cannot make: memfd_create (anonymous shared memory a peer can map), and
// close() for every fd the bridge hands out.
#define _GNU_SOURCE
#include "common.h"
#include "vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

// memfdCreate(name, size[, seals]) -> fd. Close-on-exec; sized with ftruncate; then sealed with
// `seals` (F_SEAL_* bits), by default F_SEAL_SHRINK, so a mapping of it can never fault on pages
// cut off under it (it may still grow). 0 leaves it unsealed (a file a peer could shrink).
static napi_value memfd_create_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[250];  // memfd_create allows 249 bytes
  int64_t size, seals = F_SEAL_SHRINK;
  size_t argc = 3;
  napi_valuetype seals_type = napi_undefined;
  VQN_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 2) return vqn_throw_type(env, "memfdCreate: expected 2 or 3 arguments, got %zu", argc);
  if (!vqn_string(env, argv[0], "memfdCreate", "name", name, sizeof name)) return NULL;
  if (!vqn_int(env, argv[1], "memfdCreate", "size", 0, VQN_MAX_SAFE_INT, &size)) return NULL;
  if (argc > 2) VQN_CALL(env, napi_typeof(env, argv[2], &seals_type), NULL);
  if (seals_type != napi_undefined && !vqn_int(env, argv[2], "memfdCreate", "seals", 0, INT32_MAX, &seals)) return NULL;
  if (seals & ~(int64_t)(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) {
    return vqn_throw_range(env, "memfdCreate: unknown seals 0x%llx", (unsigned long long)seals);
  }
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return vqn_throw_errno(env, errno, "memfdCreate %s", name);
  if (ftruncate(fd, (off_t)size) < 0) {
    int err = errno;
    close(fd);
    return vqn_throw_errno(env, err, "memfdCreate %s: ftruncate to %lld bytes", name, (long long)size);
  }
  if (seals != 0 && fcntl(fd, F_ADD_SEALS, (int)seals) < 0) {
    int err = errno;
    close(fd);
    return vqn_throw_errno(env, err, "memfdCreate %s: seal", name);
  }
  return vqn_number(env, fd);
}

// close(fd). Refuses an fd that a poll watcher still watches (closing it first could make the
// watcher report on whatever file gets the number next).
static napi_value close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, "close")) return NULL;
  if (!vqn_fd(env, argv[0], "close", &fd)) return NULL;
  if (vqn_fd_watched(fd)) {
    return vqn_throw_code(env, "EBUSY", "close: fd %d is still watched; close its watcher first", fd);
  }
  if (vqn_vfio_owns(fd)) {
    return vqn_throw_code(env, "EBUSY", "close: fd %d is a VFIO container, group or device: vfioClose releases it", fd);
  }
  // Linux releases the fd even when close() fails (EINTR, EIO), so it is never retried.
  if (close(fd) < 0) return vqn_throw_errno(env, errno, "close fd %d", fd);
  return vqn_undefined(env);
}

// fdSeals(fd) -> the file's seals (F_GET_SEALS: F_SEAL_* bits), or -1 when the file cannot be
// sealed at all (not a memfd, or created without MFD_ALLOW_SEALING... EINVAL).
static napi_value fd_seals_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, "fdSeals")) return NULL;
  if (!vqn_fd(env, argv[0], "fdSeals", &fd)) return NULL;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    if (errno == EINVAL) return vqn_number(env, -1);
    return vqn_throw_errno(env, errno, "fdSeals fd %d", fd);
  }
  return vqn_number(env, seals);
}

// setNonBlocking(fd): sets O_NONBLOCK, so a write to a full eventfd fails with EAGAIN instead of
// blocking the thread that signals it.
static napi_value set_non_blocking_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, "setNonBlocking")) return NULL;
  if (!vqn_fd(env, argv[0], "setNonBlocking", &fd)) return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return vqn_throw_errno(env, errno, "setNonBlocking fd %d", fd);
  return vqn_undefined(env);
}

bool vqn_init_fd(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "memfdCreate", memfd_create_js) &&
         vqn_export(env, exports, "close", close_js) &&
         vqn_export(env, exports, "fdSeals", fd_seals_js) &&
         vqn_export(env, exports, "setNonBlocking", set_non_blocking_js);
}
