// What the SIGBUS guard (fault-guard.c) saw, for JS: the faults recorded, an eventfd to hear of
// the next one from the event loop, and a test hook that faults outside every guarded mapping.
//
//   memoryFaultCount() -> faults so far in this process
//   memoryFaults(after) -> [{ seq, mapping, base, offset, length, fd, fdOffset, address, thread,
//                             replaced }] for faults numbered after `after`, oldest first (those
//                             overwritten already are left out: compare seq)
//   memoryFaultWatch() -> an eventfd (non-blocking, close-on-exec) written on every fault
//   memoryFaultUnwatch(fd): no more writes to it; closes it
//   sigbusGuardInstalled() -> whether the handler is installed (with the first mapping)
//   faultOutsideMappings(): a real SIGBUS (BUS_ADRERR) at a page no guarded mapping covers
#define _GNU_SOURCE
#include "common.h"
#include "fault-guard.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

static napi_value count_js(napi_env env, napi_callback_info info) {
  (void)info;
  return vqn_number(env, (double)vqn_fault_count());
}

static bool set_fault(napi_env env, napi_value list, uint32_t at, const vqn_fault *f) {
  napi_value o;
  return napi_create_object(env, &o) == napi_ok &&
         vqn_set(env, o, "seq", vqn_number(env, (double)f->seq)) &&
         vqn_set(env, o, "mapping", vqn_number(env, (double)f->mapping)) &&
         vqn_set(env, o, "base", vqn_number(env, (double)f->base)) &&
         vqn_set(env, o, "offset", vqn_number(env, (double)f->offset)) &&
         vqn_set(env, o, "length", vqn_number(env, (double)f->length)) &&
         vqn_set(env, o, "fd", vqn_number(env, f->fd)) &&
         vqn_set(env, o, "fdOffset", vqn_number(env, (double)f->fd_offset)) &&
         vqn_set(env, o, "address", vqn_number(env, (double)f->address)) &&
         vqn_set(env, o, "thread", vqn_number(env, f->thread)) &&
         vqn_set(env, o, "replaced", vqn_bool(env, f->replaced)) &&
         napi_set_element(env, list, at, o) == napi_ok;
}

static napi_value faults_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], list;
  int64_t after;
  if (!vqn_args(env, info, 1, argv, NULL, "memoryFaults")) return NULL;
  if (!vqn_int(env, argv[0], "memoryFaults", "after", 0, VQN_MAX_SAFE_INT, &after)) return NULL;
  VQN_CALL(env, napi_create_array(env, &list), NULL);
  uint64_t count = vqn_fault_count();
  uint64_t from = (uint64_t)after + 1;
  if (count >= VQN_FAULT_LOG && from < count - VQN_FAULT_LOG + 1) from = count - VQN_FAULT_LOG + 1;
  uint32_t n = 0;
  for (uint64_t seq = from; seq <= count; seq++) {
    vqn_fault f;
    int got = vqn_fault_get(seq, &f);
    if (got == 0) break;  // still being written: its wake-up follows
    if (got < 0) continue;
    if (!set_fault(env, list, n++, &f)) return vqn_throw_code(env, "ERR_NAPI", "memoryFaults: building the list failed");
  }
  return list;
}

static napi_value watch_js(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return vqn_throw_errno(env, errno, "memoryFaultWatch");
  int err = vqn_fault_wake_add(fd);
  if (err != 0) {
    close(fd);
    return vqn_throw_code(env, "ENOSPC", "memoryFaultWatch: %d watchers already, the most there can be",
                          VQN_FAULT_WAKERS);
  }
  return vqn_number(env, fd);
}

static napi_value unwatch_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, "memoryFaultUnwatch")) return NULL;
  if (!vqn_fd(env, argv[0], "memoryFaultUnwatch", &fd)) return NULL;
  if (vqn_fd_watched(fd)) {
    return vqn_throw_code(env, "EBUSY", "memoryFaultUnwatch: fd %d is still watched; close its watcher first", fd);
  }
  vqn_fault_wake_remove(fd);
  if (close(fd) < 0) return vqn_throw_errno(env, errno, "memoryFaultUnwatch fd %d", fd);
  return vqn_undefined(env);
}

static napi_value installed_js(napi_env env, napi_callback_info info) {
  (void)info;
  return vqn_bool(env, vqn_guard_installed());
}

// A file mapped privately (never registered), cut to nothing, then read: the kernel raises
// SIGBUS (BUS_ADRERR) at an address the guard does not know, which must kill the process as any
// such bug would. Returns only if something else handled the signal.
static napi_value fault_outside_js(napi_env env, napi_callback_info info) {
  (void)info;
  long page = sysconf(_SC_PAGESIZE);
  int fd = memfd_create("virtqueue-fault-outside", MFD_CLOEXEC);
  if (fd < 0) return vqn_throw_errno(env, errno, "faultOutsideMappings: memfd_create");
  volatile unsigned char *p = MAP_FAILED;
  if (ftruncate(fd, page) == 0) p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
  int err = p == MAP_FAILED ? errno : 0;
  if (err == 0 && ftruncate(fd, 0) < 0) err = errno;
  close(fd);
  if (err != 0) {
    if (p != MAP_FAILED) munmap((void *)p, (size_t)page);
    return vqn_throw_errno(env, err, "faultOutsideMappings");
  }
  unsigned char byte = p[0];  // SIGBUS
  munmap((void *)p, (size_t)page);
  return vqn_number(env, byte);
}

bool vqn_init_memory_faults(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "memoryFaultCount", count_js) &&
         vqn_export(env, exports, "memoryFaults", faults_js) &&
         vqn_export(env, exports, "memoryFaultWatch", watch_js) &&
         vqn_export(env, exports, "memoryFaultUnwatch", unwatch_js) &&
         vqn_export(env, exports, "sigbusGuardInstalled", installed_js) &&
         vqn_export(env, exports, "faultOutsideMappings", fault_outside_js);
}
