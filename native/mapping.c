// mapIntoMemory / unmapFromMemory / mappings: a file (a memfd, a peer's guest memory) mapped
// MAP_SHARED | MAP_FIXED over pages of a shared WebAssembly.Memory, so the Wasm engine and every
// thread sharing the memory read and write the file's pages directly. Every mapping is guarded
// against its file shrinking under it (fault-guard.h): a fault there leaves zero pages, not a
// dead process.
#define _GNU_SOURCE
#include "mapping.h"
#include "fault-guard.h"
#include "vfio.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>

static bool page_aligned(napi_env env, const char *fn, const char *what, int64_t v) {
  if ((uint64_t)v % vqn_page_size() == 0) return true;
  vqn_throw_range(env, "%s: %s %" PRId64 " is not page-aligned (page size %zu)", fn, what, v, vqn_page_size());
  return false;
}

// The part both calls share: memory, offset and length, checked against the memory.
static bool memory_range(napi_env env, napi_value *argv, int offset_arg, int length_arg, const char *fn,
                         uint8_t **base, int64_t *offset, int64_t *length) {
  size_t size;
  if (!vqn_memory_view(env, argv[0], fn, base, &size)) return false;
  if (!vqn_int(env, argv[offset_arg], fn, "offset", 0, VQN_MAX_SAFE_INT, offset)) return false;
  if (!vqn_int(env, argv[length_arg], fn, "length", 1, VQN_MAX_SAFE_INT, length)) return false;
  if (!page_aligned(env, fn, "offset", *offset) || !page_aligned(env, fn, "length", *length)) return false;
  if ((uint64_t)*offset > size || (uint64_t)*length > size - (uint64_t)*offset) {
    vqn_throw_range(env, "%s: [%" PRId64 ", %" PRId64 ") is outside the memory (%zu bytes)", fn, *offset,
                    *offset + *length, size);
    return false;
  }
  return true;
}

// Refuses what mmap would accept but would crash later: a file shorter than the mapped range
// (touching pages past its end raises SIGBUS).
static bool file_covers(napi_env env, int fd, int64_t fd_offset, int64_t length) {
  struct stat st;
  if (fstat(fd, &st) < 0) {
    vqn_throw_errno(env, errno, "mapIntoMemory fd %d", fd);
    return false;
  }
  if (S_ISREG(st.st_mode) && st.st_size < fd_offset + length) {
    vqn_throw_range(env, "mapIntoMemory: fd %d is %lld bytes; [%" PRId64 ", %" PRId64 ") runs past its end",
                    fd, (long long)st.st_size, fd_offset, fd_offset + length);
    return false;
  }
  return true;
}

// Locked: takes mapping `m` away (zero pages back, its guard slot released) and out of the
// registry, and returns its pin for the caller to delete; NULL with *err set when the pages
// could not be replaced (nothing changed).
static napi_ref undo(vqn_mapping *m, int *err) {
  vqn_guard_retire_begin(m->guard);
  *err = vqn_zero_pages(m->base + m->offset, m->length);
  if (*err != 0) {
    vqn_guard_retire_cancel(m->guard);
    return NULL;
  }
  vqn_guard_retire_end(m->guard);
  napi_ref pin = m->pin;
  vqn_registry_remove(m);
  return pin;
}

// mapIntoMemory(view, offset, fd, fdOffset, length)
static napi_value map_js(napi_env env, napi_callback_info info) {
  const char *fn = "mapIntoMemory";
  napi_value argv[5];
  uint8_t *base;
  int64_t offset, length, fd_offset;
  int fd;
  if (!vqn_args(env, info, 5, argv, NULL, fn)) return NULL;
  if (!memory_range(env, argv, 1, 4, fn, &base, &offset, &length)) return NULL;
  if (!vqn_fd(env, argv[2], fn, &fd)) return NULL;
  if (!vqn_int(env, argv[3], fn, "fdOffset", 0, VQN_MAX_SAFE_INT, &fd_offset)) return NULL;
  if (!page_aligned(env, fn, "fdOffset", fd_offset)) return NULL;
  if (!file_covers(env, fd, fd_offset, length)) return NULL;

  int guard_err = vqn_guard_install();
  if (guard_err != 0) return vqn_throw_errno(env, guard_err, "%s: installing the SIGBUS handler", fn);

  vqn_mapping m = {.env = env, .pin = NULL, .base = (uintptr_t)base, .offset = (uint64_t)offset,
                   .length = (uint64_t)length, .fd_offset = (uint64_t)fd_offset, .fd = fd, .guard = -1};
  uintptr_t addr = m.base + m.offset;
  vqn_registry_lock();
  const vqn_mapping *hit = vqn_registry_overlap(addr, m.length);
  if (hit != NULL) {
    uint64_t at = hit->offset, len = hit->length;
    vqn_registry_unlock();
    return vqn_throw_code(env, "EEXIST", "%s: [%" PRId64 ", %" PRId64 ") overlaps the mapping at offset %" PRIu64
                          " (length %" PRIu64 ")", fn, offset, offset + length, at, len);
  }
  // First a trial mapping wherever the kernel likes: whatever mmap refuses (permissions, a file
  // that cannot be mapped) it refuses here, with the memory untouched.
  void *trial = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)fd_offset);
  if (trial == MAP_FAILED) {
    int err = errno;
    vqn_registry_unlock();
    return vqn_throw_errno(env, err, "%s fd %d", fn, fd);
  }
  munmap(trial, (size_t)length);
  // Guarded before it exists: the file may shrink the moment it is mapped.
  uint64_t id = 0;
  m.guard = vqn_guard_add(m.base, m.offset, m.length, fd, m.fd_offset, &id);
  if (m.guard < 0) {
    vqn_registry_unlock();
    return vqn_throw_code(env, "ENOSPC", "%s: %d mappings are live already, the most the SIGBUS guard keeps", fn,
                          VQN_GUARD_SLOTS);
  }
  void *p = mmap((void *)addr, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)fd_offset);
  int err = p == MAP_FAILED ? errno : 0;
  if (err == 0 && (napi_create_reference(env, argv[0], 1, &m.pin) != napi_ok || !vqn_registry_add(&m))) {
    if (m.pin) napi_delete_reference(env, m.pin);
    err = ENOMEM;
  }
  if (err != 0) {
    // Only resource exhaustion is left to fail here, after the kernel may have unmapped part of
    // the range: never leave a hole in the memory (zero pages are what unmapping leaves too).
    vqn_guard_retire_begin(m.guard);
    vqn_zero_pages(addr, m.length);
    vqn_guard_retire_end(m.guard);
    vqn_registry_unlock();
    return p == MAP_FAILED ? vqn_throw_errno(env, err, "%s fd %d", fn, fd)
                           : vqn_throw_errno(env, err, "%s: registering the mapping", fn);
  }
  vqn_registry_unlock();
  return vqn_undefined(env);
}

// unmapFromMemory(view, offset, length): exactly one earlier mapping, made on this thread.
static napi_value unmap_js(napi_env env, napi_callback_info info) {
  const char *fn = "unmapFromMemory";
  napi_value argv[3];
  uint8_t *base;
  int64_t offset, length;
  if (!vqn_args(env, info, 3, argv, NULL, fn)) return NULL;
  if (!memory_range(env, argv, 1, 2, fn, &base, &offset, &length)) return NULL;
  vqn_registry_lock();
  vqn_mapping *m = vqn_registry_find((uintptr_t)base + (uint64_t)offset, (uint64_t)length);
  if (m == NULL) {
    vqn_registry_unlock();
    return vqn_throw_code(env, "ENOENT", "%s: nothing is mapped at [%" PRId64 ", %" PRId64 ") of this memory", fn,
                          offset, offset + length);
  }
  if (m->env != env) {
    vqn_registry_unlock();
    return vqn_throw_code(env, "EPERM", "%s: [%" PRId64 ", %" PRId64 ") was mapped by another thread", fn, offset,
                          offset + length);
  }
  // A device may still be reading and writing these pages through the IOMMU (the kernel pinned
  // them): replacing them would leave its DMA going to pages nobody sees.
  if (vqn_vfio_dma_covers((uintptr_t)base + (uint64_t)offset, (uint64_t)length)) {
    vqn_registry_unlock();
    return vqn_throw_code(env, "EBUSY", "%s: [%" PRId64 ", %" PRId64 ") is mapped for a VFIO device's DMA: vfioDmaUnmap it first",
                          fn, offset, offset + length);
  }
  int err;
  napi_ref pin = undo(m, &err);
  if (pin == NULL) {
    vqn_registry_unlock();
    return vqn_throw_errno(env, err, "%s [%" PRId64 ", %" PRId64 ")", fn, offset, offset + length);
  }
  vqn_registry_unlock();
  napi_delete_reference(env, pin);
  return vqn_undefined(env);
}

// mappings() -> [{ base, offset, length, fd, fdOffset, thisThread }], every live mapping in the
// process.
static napi_value mappings_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  VQN_CALL(env, napi_create_array(env, &list), NULL);
  vqn_registry_lock();
  bool ok = true;
  for (size_t i = 0; ok && i < vqn_registry_count(); i++) {
    const vqn_mapping *m = vqn_registry_at(i);
    napi_value o;
    ok = napi_create_object(env, &o) == napi_ok &&
         vqn_set(env, o, "base", vqn_number(env, (double)m->base)) &&
         vqn_set(env, o, "offset", vqn_number(env, (double)m->offset)) &&
         vqn_set(env, o, "length", vqn_number(env, (double)m->length)) &&
         vqn_set(env, o, "fd", vqn_number(env, m->fd)) &&
         vqn_set(env, o, "fdOffset", vqn_number(env, (double)m->fd_offset)) &&
         vqn_set(env, o, "thisThread", vqn_bool(env, m->env == env)) &&
         napi_set_element(env, list, (uint32_t)i, o) == napi_ok;
  }
  vqn_registry_unlock();
  if (!ok) return vqn_throw_code(env, "ERR_NAPI", "mappings: building the list failed");
  return list;
}

// memoryBase(view) -> the backing store's address (for reports and for matching mappings()).
static napi_value memory_base_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint8_t *base;
  size_t size;
  if (!vqn_args(env, info, 1, argv, NULL, "memoryBase")) return NULL;
  if (!vqn_memory_view(env, argv[0], "memoryBase", &base, &size)) return NULL;
  return vqn_number(env, (double)(uintptr_t)base);
}

// When a thread's Node environment ends, its mappings go (zero pages back): the registry never
// holds a mapping nobody can unmap, and the pins die with the environment anyway.
static void drop_env_mappings(void *arg) {
  napi_env env = arg;
  vqn_registry_lock();
  for (size_t i = 0; i < vqn_registry_count();) {
    vqn_mapping *m = vqn_registry_at(i);
    if (m->env != env) {
      i++;
      continue;
    }
    int err;
    napi_ref pin = undo(m, &err);
    if (pin == NULL) {  // out of memory for page tables: leave it mapped, and go on
      i++;
      continue;
    }
    napi_delete_reference(env, pin);
  }
  vqn_registry_unlock();
}

bool vqn_init_mapping(napi_env env, napi_value exports) {
  VQN_CALL(env, napi_add_env_cleanup_hook(env, drop_env_mappings, env), false);
  return vqn_export(env, exports, "mapIntoMemory", map_js) &&
         vqn_export(env, exports, "unmapFromMemory", unmap_js) &&
         vqn_export(env, exports, "mappings", mappings_js) &&
         vqn_export(env, exports, "memoryBase", memory_base_js) &&
         vqn_set(env, exports, "PAGE_SIZE", vqn_number(env, (double)vqn_page_size()));
}
