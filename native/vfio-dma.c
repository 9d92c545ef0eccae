// DMA through the IOMMU of a VFIO container (TYPE1v2): what the IOMMU allows (page sizes, IOVA
// ranges, how many mappings are left), and mapping pages of a shared memory (a Wasm memory,
// typically with a memfd mapped over it: mapping.c) at IOVAs the caller chooses, so that the
// device reads and writes them in place. The kernel pins the pages while they are mapped.
// Every mapping is registered (vfio.h) and unmapped by vfioDmaUnmap, or when its container is
// released.
#include "mapping.h"
#include "vfio.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static napi_value bigint(napi_env env, uint64_t v) {
  napi_value b;
  VQN_CALL(env, napi_create_bigint_uint64(env, v, &b), NULL);
  return b;
}

// vfioIommuInfo(container) -> { pageSizes: bigint (bitmap), iovaRanges: [{ start, end }] (bigints,
// inclusive), dmaAvail: number | null }.
static napi_value iommu_info_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioIommuInfo";
  napi_value argv[1], o, ranges;
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  struct vfio_iommu_type1_info first = {.argsz = sizeof first};
  if (ioctl(fd, VFIO_IOMMU_GET_INFO, &first) < 0) {
    return vqn_throw_errno(env, errno, "%s: container fd %d (is its IOMMU set?)", fn, fd);
  }
  uint32_t argsz = first.argsz > sizeof first ? first.argsz : (uint32_t)sizeof first;
  if (argsz > 1 << 20) return vqn_throw_code(env, "EPROTO", "%s: info claims %u bytes", fn, argsz);
  struct vfio_iommu_type1_info *ii = calloc(1, argsz);
  if (ii == NULL) return vqn_throw_errno(env, ENOMEM, "%s", fn);
  ii->argsz = argsz;
  if (ioctl(fd, VFIO_IOMMU_GET_INFO, ii) < 0) {
    int err = errno;
    free(ii);
    return vqn_throw_errno(env, err, "%s: container fd %d", fn, fd);
  }
  napi_value result = NULL, avail = vqn_null(env);
  if (napi_create_object(env, &o) != napi_ok || napi_create_array(env, &ranges) != napi_ok) goto done;
  // The capability chain, bounded: offsets inside the buffer and strictly increasing.
  uint32_t at = (ii->flags & VFIO_IOMMU_INFO_CAPS) ? ii->cap_offset : 0, n = 0, end = ii->argsz < argsz ? ii->argsz : argsz;
  const uint8_t *buf = (const uint8_t *)ii;
  // Capabilities are only 4-byte aligned in the buffer while some hold u64s: each is copied out
  // (memcpy) before it is read.
  while (at != 0) {
    struct vfio_info_cap_header h;
    if (n++ == 64 || at < sizeof *ii || at % 4 != 0 || (uint64_t)at + sizeof h > end) {
      vqn_throw_code(env, "EPROTO", "%s: malformed capability chain at offset %u", fn, at);
      goto done;
    }
    memcpy(&h, buf + at, sizeof h);
    if (h.next != 0 && h.next <= at) {
      vqn_throw_code(env, "EPROTO", "%s: capability at offset %u points back to %u", fn, at, h.next);
      goto done;
    }
    if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
      struct vfio_iommu_type1_info_cap_iova_range c;
      struct vfio_iova_range range;
      if (end - at < sizeof c) {
        vqn_throw_code(env, "EPROTO", "%s: IOVA range capability at %u runs past the info", fn, at);
        goto done;
      }
      memcpy(&c, buf + at, sizeof c);
      if (c.nr_iovas > (end - at - sizeof c) / sizeof range) {
        vqn_throw_code(env, "EPROTO", "%s: IOVA range capability at %u: %u ranges run past the info", fn, at, c.nr_iovas);
        goto done;
      }
      for (uint32_t i = 0; i < c.nr_iovas; i++) {
        napi_value r;
        memcpy(&range, buf + at + sizeof c + i * sizeof range, sizeof range);
        if (napi_create_object(env, &r) != napi_ok || !vqn_set(env, r, "start", bigint(env, range.start)) ||
            !vqn_set(env, r, "end", bigint(env, range.end)) || napi_set_element(env, ranges, i, r) != napi_ok) {
          goto done;
        }
      }
    } else if (h.id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
      struct vfio_iommu_type1_info_dma_avail c;
      if (end - at < sizeof c) {
        vqn_throw_code(env, "EPROTO", "%s: DMA-available capability at %u runs past the info", fn, at);
        goto done;
      }
      memcpy(&c, buf + at, sizeof c);
      avail = vqn_number(env, c.avail);
    }
    at = h.next;
  }
  if (vqn_set(env, o, "pageSizes", bigint(env, (ii->flags & VFIO_IOMMU_INFO_PGSIZES) ? ii->iova_pgsizes : 0)) &&
      vqn_set(env, o, "iovaRanges", ranges) && vqn_set(env, o, "dmaAvail", avail)) {
    result = o;
  }
done:
  free(ii);
  return result;
}

static bool page_aligned(napi_env env, const char *fn, const char *what, uint64_t v) {
  if (v % vqn_page_size() == 0) return true;
  vqn_throw_range(env, "%s: %s 0x%" PRIx64 " is not a multiple of the page size (%zu)", fn, what, v, vqn_page_size());
  return false;
}

// vfioDmaMap(container, view, offset, length, iova): the device may read and write
// [offset, offset + length) of the memory at [iova, iova + length).
static napi_value dma_map_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioDmaMap";
  napi_value argv[5];
  int container;
  uint8_t *base;
  size_t size;
  int64_t offset, length;
  uint64_t iova;
  if (!vqn_args(env, info, 5, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &container)) return NULL;
  if (!vqn_memory_view(env, argv[1], fn, &base, &size)) return NULL;
  if (!vqn_int(env, argv[2], fn, "offset", 0, VQN_MAX_SAFE_INT, &offset) ||
      !vqn_int(env, argv[3], fn, "length", 1, VQN_MAX_SAFE_INT, &length) || !vqn_u64(env, argv[4], fn, "iova", &iova)) {
    return NULL;
  }
  if (!page_aligned(env, fn, "offset", (uint64_t)offset) || !page_aligned(env, fn, "length", (uint64_t)length) ||
      !page_aligned(env, fn, "iova", iova)) {
    return NULL;
  }
  if ((uint64_t)offset > size || (uint64_t)length > size - (uint64_t)offset) {
    return vqn_throw_range(env, "%s: [%" PRId64 ", %" PRId64 ") is outside the memory (%zu bytes)", fn, offset, offset + length, size);
  }
  if (iova > UINT64_MAX - (uint64_t)length) return vqn_throw_range(env, "%s: iova 0x%" PRIx64 " + length wraps", fn, iova);
  vqn_vfio_lock();
  vqn_vfio_fd *f = vqn_vfio_fd_find(container);
  if (f == NULL || f->kind != VQN_VFIO_CONTAINER) {
    vqn_vfio_unlock();
    return vqn_throw_code(env, "EBADF", "%s: fd %d is not a VFIO container opened by the bridge", fn, container);
  }
  const vqn_vfio_dma *hit = vqn_vfio_dma_overlap(container, iova, (uint64_t)length);
  if (hit != NULL) {
    uint64_t at = hit->iova, len = hit->size;
    vqn_vfio_unlock();
    return vqn_throw_code(env, "EEXIST", "%s: IOVA [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the mapping at 0x%" PRIx64
                          " (length 0x%" PRIx64 ")", fn, iova, iova + (uint64_t)length, at, len);
  }
  vqn_vfio_dma d = {.env = env, .container = container, .iova = iova, .size = (uint64_t)length,
                    .vaddr = (uint64_t)(uintptr_t)(base + offset)};
  struct vfio_iommu_type1_dma_map m = {.argsz = sizeof m, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                       .vaddr = d.vaddr, .iova = iova, .size = d.size};
  int err = ioctl(container, VFIO_IOMMU_MAP_DMA, &m) < 0 ? errno : 0;
  if (err == 0 && !vqn_vfio_dma_add(&d)) {
    struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof u, .iova = iova, .size = d.size};
    ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u);
    err = ENOMEM;
  }
  vqn_vfio_unlock();
  if (err != 0) {
    return vqn_throw_errno(env, err, "%s: the IOMMU refused to map IOVA [0x%" PRIx64 ", 0x%" PRIx64 ") (memory offset %" PRId64
                           ")", fn, iova, iova + (uint64_t)length, offset);
  }
  return vqn_undefined(env);
}

// vfioDmaUnmap(container, iova, length): exactly one earlier mapping.
static napi_value dma_unmap_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioDmaUnmap";
  napi_value argv[3];
  int container;
  uint64_t iova, length;
  if (!vqn_args(env, info, 3, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &container)) return NULL;
  if (!vqn_u64(env, argv[1], fn, "iova", &iova) || !vqn_u64(env, argv[2], fn, "length", &length)) return NULL;
  vqn_vfio_lock();
  vqn_vfio_dma *d = vqn_vfio_dma_find(container, iova, length);
  if (d == NULL) {
    vqn_vfio_unlock();
    return vqn_throw_code(env, "ENOENT", "%s: container fd %d has no mapping at exactly IOVA [0x%" PRIx64 ", 0x%" PRIx64 ")", fn,
                          container, iova, iova + length);
  }
  struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof u, .iova = iova, .size = length};
  int err = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u) < 0 ? errno : 0;
  if (err == 0) vqn_vfio_dma_remove(d);
  vqn_vfio_unlock();
  if (err != 0) return vqn_throw_errno(env, err, "%s: IOVA [0x%" PRIx64 ", 0x%" PRIx64 ")", fn, iova, iova + length);
  return vqn_undefined(env);
}

// vfioDmaMappings() -> [{ container, iova, size, vaddr, thisThread }]: every live DMA mapping.
static napi_value dma_mappings_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  VQN_CALL(env, napi_create_array(env, &list), NULL);
  vqn_vfio_lock();
  bool ok = true;
  for (size_t i = 0; ok && i < vqn_vfio_dma_count(); i++) {
    const vqn_vfio_dma *d = vqn_vfio_dma_at(i);
    napi_value o;
    ok = napi_create_object(env, &o) == napi_ok && vqn_set(env, o, "container", vqn_number(env, d->container)) &&
         vqn_set(env, o, "iova", vqn_number(env, (double)d->iova)) && vqn_set(env, o, "size", vqn_number(env, (double)d->size)) &&
         vqn_set(env, o, "vaddr", vqn_number(env, (double)d->vaddr)) &&
         vqn_set(env, o, "thisThread", vqn_bool(env, d->env == env)) && napi_set_element(env, list, (uint32_t)i, o) == napi_ok;
  }
  vqn_vfio_unlock();
  if (!ok) return vqn_throw_code(env, "ERR_NAPI", "vfioDmaMappings: building the list failed");
  return list;
}

bool vqn_init_vfio_dma(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "vfioIommuInfo", iommu_info_js) &&
         vqn_export(env, exports, "vfioDmaMap", dma_map_js) &&
         vqn_export(env, exports, "vfioDmaUnmap", dma_unmap_js) &&
         vqn_export(env, exports, "vfioDmaMappings", dma_mappings_js);
}
