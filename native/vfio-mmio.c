// A device's BARs mmapped (where the region's info allows it) and accessed at exact widths:
// device registers want loads and stores of exactly 1, 2 or 4 bytes, naturally aligned, which
// JavaScript's typed arrays and DataView do not promise. A mapping is known by an id; accesses
// look it up under the registry's lock, so one unmapped by another thread (or with its device)
// is an error (ENOENT), never a stray access.
#include "mapping.h"
#include "vfio.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/mman.h>

// vfioMmap(device, offset, size) -> id: maps [offset, offset + size) of the device fd (a
// region's offset plus a page-aligned offset within it), read and write, shared.
static napi_value mmap_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioMmap";
  napi_value argv[3];
  int device;
  uint64_t offset;
  int64_t size;
  if (!vqn_args(env, info, 3, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &device)) return NULL;
  if (!vqn_u64(env, argv[1], fn, "offset", &offset) || !vqn_int(env, argv[2], fn, "size", 1, 1LL << 40, &size)) return NULL;
  if (offset % vqn_page_size() != 0 || offset > INT64_MAX) {
    return vqn_throw_range(env, "%s: offset 0x%" PRIx64 " is not a page-aligned file offset", fn, offset);
  }
  vqn_vfio_lock();
  vqn_vfio_fd *f = vqn_vfio_fd_find(device);
  if (f == NULL || f->kind != VQN_VFIO_DEVICE) {
    vqn_vfio_unlock();
    return vqn_throw_code(env, "EBADF", "%s: fd %d is not a VFIO device opened by the bridge", fn, device);
  }
  uint64_t len = ((uint64_t)size + vqn_page_size() - 1) / vqn_page_size() * vqn_page_size();
  void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, device, (off_t)offset);
  if (p == MAP_FAILED) {
    int err = errno;
    vqn_vfio_unlock();
    return vqn_throw_errno(env, err, "%s: device fd %d [0x%" PRIx64 ", +0x%" PRIx64 ") (not an mmappable area of a region?)", fn,
                           device, offset, len);
  }
  vqn_vfio_bar b = {.env = env, .id = vqn_vfio_bar_next_id(), .device = device, .addr = p, .size = (uint64_t)size,
                    .offset = offset};
  bool ok = vqn_vfio_bar_add(&b);
  if (!ok) munmap(p, (size_t)len);
  vqn_vfio_unlock();
  if (!ok) return vqn_throw_errno(env, ENOMEM, "%s: registering the mapping", fn);
  return vqn_number(env, b.id);
}

// The mapping `id` (locked, registered) and a checked [off, off + width) in it; throws and
// unlocks otherwise.
static volatile uint8_t *locate(napi_env env, napi_value *argv, const char *fn, int64_t *width) {
  int64_t id, off;
  if (!vqn_int(env, argv[0], fn, "id", 1, UINT32_MAX, &id) || !vqn_int(env, argv[1], fn, "offset", 0, VQN_MAX_SAFE_INT, &off) ||
      !vqn_int(env, argv[2], fn, "width", 1, 4, width)) {
    return NULL;
  }
  if (*width == 3 || off % *width != 0) {
    vqn_throw_range(env, "%s: a %" PRId64 "-byte access at offset %" PRId64 " (widths 1, 2, 4, naturally aligned)", fn, *width, off);
    return NULL;
  }
  vqn_vfio_lock();
  vqn_vfio_bar *b = vqn_vfio_bar_find((uint32_t)id);
  if (b == NULL) {
    vqn_vfio_unlock();
    vqn_throw_code(env, "ENOENT", "%s: no BAR mapping %" PRId64 " (unmapped, or its device closed)", fn, id);
    return NULL;
  }
  if ((uint64_t)off + (uint64_t)*width > b->size) {
    uint64_t size = b->size;
    vqn_vfio_unlock();
    vqn_throw_range(env, "%s: [%" PRId64 ", %" PRId64 ") is outside mapping %" PRId64 " (%" PRIu64 " bytes)", fn, off, off + *width,
                    id, size);
    return NULL;
  }
  return b->addr + off;
}

// vfioMmioRead(id, offset, width) -> number.
static napi_value mmio_read_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int64_t width;
  if (!vqn_args(env, info, 3, argv, NULL, "vfioMmioRead")) return NULL;
  volatile uint8_t *p = locate(env, argv, "vfioMmioRead", &width);
  if (p == NULL) return NULL;
  uint32_t v = width == 1 ? *p : width == 2 ? *(volatile uint16_t *)p : *(volatile uint32_t *)p;
  vqn_vfio_unlock();
  return vqn_number(env, v);
}

// vfioMmioWrite(id, offset, width, value).
static napi_value mmio_write_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int64_t width, value;
  if (!vqn_args(env, info, 4, argv, NULL, "vfioMmioWrite")) return NULL;
  if (!vqn_int(env, argv[3], "vfioMmioWrite", "value", 0, UINT32_MAX, &value)) return NULL;
  volatile uint8_t *p = locate(env, argv, "vfioMmioWrite", &width);
  if (p == NULL) return NULL;
  if (value >> (8 * width) != 0) {
    vqn_vfio_unlock();
    return vqn_throw_range(env, "vfioMmioWrite: value %" PRId64 " does not fit %" PRId64 " bytes", value, width);
  }
  if (width == 1) *p = (uint8_t)value;
  else if (width == 2) *(volatile uint16_t *)p = (uint16_t)value;
  else *(volatile uint32_t *)p = (uint32_t)value;
  vqn_vfio_unlock();
  return vqn_undefined(env);
}

// vfioMunmap(id).
static napi_value munmap_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t id;
  if (!vqn_args(env, info, 1, argv, NULL, "vfioMunmap") || !vqn_int(env, argv[0], "vfioMunmap", "id", 1, UINT32_MAX, &id)) return NULL;
  vqn_vfio_lock();
  vqn_vfio_bar *b = vqn_vfio_bar_find((uint32_t)id);
  if (b != NULL) vqn_vfio_bar_release(b);
  vqn_vfio_unlock();
  if (b == NULL) return vqn_throw_code(env, "ENOENT", "vfioMunmap: no BAR mapping %" PRId64, id);
  return vqn_undefined(env);
}

// vfioBarMappings() -> [{ id, device, offset, size, thisThread }].
static napi_value bar_mappings_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  VQN_CALL(env, napi_create_array(env, &list), NULL);
  vqn_vfio_lock();
  bool ok = true;
  for (size_t i = 0; ok && i < vqn_vfio_bar_count(); i++) {
    const vqn_vfio_bar *b = vqn_vfio_bar_at(i);
    napi_value o;
    ok = napi_create_object(env, &o) == napi_ok && vqn_set(env, o, "id", vqn_number(env, b->id)) &&
         vqn_set(env, o, "device", vqn_number(env, b->device)) && vqn_set(env, o, "offset", vqn_number(env, (double)b->offset)) &&
         vqn_set(env, o, "size", vqn_number(env, (double)b->size)) && vqn_set(env, o, "thisThread", vqn_bool(env, b->env == env)) &&
         napi_set_element(env, list, (uint32_t)i, o) == napi_ok;
  }
  vqn_vfio_unlock();
  if (!ok) return vqn_throw_code(env, "ERR_NAPI", "vfioBarMappings: building the list failed");
  return list;
}

bool vqn_init_vfio_mmio(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "vfioMmap", mmap_js) &&
         vqn_export(env, exports, "vfioMmioRead", mmio_read_js) &&
         vqn_export(env, exports, "vfioMmioWrite", mmio_write_js) &&
         vqn_export(env, exports, "vfioMunmap", munmap_js) &&
         vqn_export(env, exports, "vfioBarMappings", bar_mappings_js);
}
