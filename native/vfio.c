// VFIO containers, groups and devices (linux/vfio.h): opening them (each fd registered, see
// vfio.h), attaching a group to a container and setting its IOMMU, the device's info, its
// regions' info with their capabilities, reading and writing regions (pread/pwrite: config space,
// and BARs that cannot be mmapped), interrupts as eventfds, reset, and vfioClose.
#define _GNU_SOURCE
#include "vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PATH_CAP 4096
// Capabilities in one info chain, at most (the kernel has a handful).
#define MAX_CAPS 64

static const char *kind_name(vqn_vfio_kind k) {
  return k == VQN_VFIO_CONTAINER ? "container" : k == VQN_VFIO_GROUP ? "group" : "device";
}

// A registered fd of `kind`, or throws naming `fn`.
static bool registered(napi_env env, int fd, vqn_vfio_kind kind, const char *fn) {
  vqn_vfio_lock();
  vqn_vfio_fd *f = vqn_vfio_fd_find(fd);
  bool ok = f != NULL && f->kind == kind;
  vqn_vfio_unlock();
  if (!ok) vqn_throw_code(env, "EBADF", "%s: fd %d is not a VFIO %s opened by the bridge", fn, fd, kind_name(kind));
  return ok;
}

static napi_value register_fd(napi_env env, int fd, vqn_vfio_kind kind, int parent, const char *fn) {
  vqn_vfio_lock();
  bool ok = vqn_vfio_fd_add(env, fd, kind, parent);
  vqn_vfio_unlock();
  if (!ok) {
    close(fd);
    return vqn_throw_errno(env, ENOMEM, "%s: registering fd %d", fn, fd);
  }
  return vqn_number(env, fd);
}

// Opens the path given as the only argument, read-write, close-on-exec; -1 when it threw.
static int open_arg(napi_env env, napi_callback_info info, const char *fn, char *path) {
  napi_value argv[1];
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_string(env, argv[0], fn, "path", path, PATH_CAP)) return -1;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) vqn_throw_errno(env, errno, "%s %s", fn, path);
  return fd;
}

// Closes `fd`, whose first VFIO ioctl (`call`) failed with `err`, and throws: ENOTVFIO when the
// file is no VFIO `what` at all.
static napi_value refuse(napi_env env, int fd, int err, const char *fn, const char *path, const char *what, const char *call) {
  close(fd);
  if (err == ENOTTY || err == EINVAL) return vqn_throw_code(env, "ENOTVFIO", "%s: %s is not a VFIO %s", fn, path, what);
  return vqn_throw_errno(env, err, "%s %s: %s", fn, path, call);
}

// vfioOpenContainer(path) -> fd: opens the container (normally /dev/vfio/vfio) and checks the
// API version and that the TYPE1v2 IOMMU is there.
static napi_value open_container_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioOpenContainer";
  char path[PATH_CAP];
  int fd = open_arg(env, info, fn, path);
  if (fd < 0) return NULL;
  int version = ioctl(fd, VFIO_GET_API_VERSION);
  if (version < 0) return refuse(env, fd, errno, fn, path, "container", "VFIO_GET_API_VERSION");
  if (version != VFIO_API_VERSION) {
    close(fd);
    return vqn_throw_code(env, "EPROTO", "%s %s: VFIO API version %d, expected %d", fn, path, version, VFIO_API_VERSION);
  }
  if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
    close(fd);
    return vqn_throw_code(env, "ENOTSUP", "%s %s: the kernel has no TYPE1v2 IOMMU back-end (vfio_iommu_type1 not loaded?)",
                          fn, path);
  }
  return register_fd(env, fd, VQN_VFIO_CONTAINER, -1, fn);
}

// vfioOpenGroup(path) -> fd: opens /dev/vfio/<group>.
static napi_value open_group_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioOpenGroup";
  char path[PATH_CAP];
  int fd = open_arg(env, info, fn, path);
  if (fd < 0) return NULL;
  struct vfio_group_status st = {.argsz = sizeof st};
  if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) return refuse(env, fd, errno, fn, path, "group", "VFIO_GROUP_GET_STATUS");
  return register_fd(env, fd, VQN_VFIO_GROUP, -1, fn);
}

// vfioGroupStatus(group) -> { viable, containerSet }. Viable: every device in the group is bound
// to a VFIO driver or to none.
static napi_value group_status_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioGroupStatus";
  napi_value argv[1], o;
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!registered(env, fd, VQN_VFIO_GROUP, fn)) return NULL;
  struct vfio_group_status st = {.argsz = sizeof st};
  if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) return vqn_throw_errno(env, errno, "%s fd %d", fn, fd);
  VQN_CALL(env, napi_create_object(env, &o), NULL);
  if (!vqn_set(env, o, "viable", vqn_bool(env, st.flags & VFIO_GROUP_FLAGS_VIABLE)) ||
      !vqn_set(env, o, "containerSet", vqn_bool(env, st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET))) return NULL;
  return o;
}

// vfioGroupSetContainer(group, container).
static napi_value group_set_container_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioGroupSetContainer";
  napi_value argv[2];
  int group, container;
  if (!vqn_args(env, info, 2, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &group) || !vqn_fd(env, argv[1], fn, &container)) {
    return NULL;
  }
  if (!registered(env, group, VQN_VFIO_GROUP, fn) || !registered(env, container, VQN_VFIO_CONTAINER, fn)) return NULL;
  vqn_vfio_lock();
  vqn_vfio_fd *g = vqn_vfio_fd_find(group);
  if (g->parent >= 0) {
    int was = g->parent;
    vqn_vfio_unlock();
    return vqn_throw_code(env, "EBUSY", "%s: group fd %d is set to container fd %d already", fn, group, was);
  }
  int err = ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0 ? errno : 0;
  if (err == 0) g->parent = container;
  vqn_vfio_unlock();
  if (err == EPERM || err == EACCES) {
    return vqn_throw_errno(env, err, "%s: group fd %d is not viable (a device in it is bound to a host driver)", fn, group);
  }
  if (err != 0) return vqn_throw_errno(env, err, "%s: group fd %d, container fd %d", fn, group, container);
  return vqn_undefined(env);
}

// vfioSetIommu(container): the TYPE1v2 IOMMU (a group must be set to the container first).
static napi_value set_iommu_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioSetIommu";
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!registered(env, fd, VQN_VFIO_CONTAINER, fn)) return NULL;
  if (ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
    return vqn_throw_errno(env, errno, "%s: container fd %d: VFIO_SET_IOMMU TYPE1v2 (no group set to it yet?)", fn, fd);
  }
  return vqn_undefined(env);
}

// vfioGetDeviceFd(group, name) -> fd: the device (its PCI address, e.g. "0000:00:01.0").
static napi_value get_device_fd_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioGetDeviceFd";
  napi_value argv[2];
  char name[256];
  int group;
  if (!vqn_args(env, info, 2, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &group)) return NULL;
  if (!vqn_string(env, argv[1], fn, "name", name, sizeof name)) return NULL;
  if (!registered(env, group, VQN_VFIO_GROUP, fn)) return NULL;
  int fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name);
  if (fd < 0) {
    int err = errno;
    if (err == EINVAL) return vqn_throw_errno(env, err, "%s %s: not a device of group fd %d, or no IOMMU set yet", fn, name, group);
    return vqn_throw_errno(env, err, "%s %s: group fd %d", fn, name, group);
  }
  return register_fd(env, fd, VQN_VFIO_DEVICE, group, fn);
}

// vfioClose(fd): releases a container, group or device and what hangs on it (see vfio.h).
static napi_value close_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioClose";
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  vqn_vfio_lock();
  vqn_vfio_fd *f = vqn_vfio_fd_find(fd);
  if (f == NULL) {
    vqn_vfio_unlock();
    return vqn_throw_code(env, "EBADF", "%s: fd %d is not a VFIO fd opened by the bridge", fn, fd);
  }
  const char *kind = kind_name(f->kind), *what = NULL;
  int err = vqn_vfio_release(f, &what);
  vqn_vfio_unlock();
  if (err != 0) return vqn_throw_code(env, "EBUSY", "%s: %s fd %d: %s", fn, kind, fd, what);
  return vqn_undefined(env);
}

// vfioFds() -> [{ fd, kind, parent, thisThread }]: every registered fd in the process.
static napi_value fds_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  VQN_CALL(env, napi_create_array(env, &list), NULL);
  vqn_vfio_lock();
  bool ok = true;
  for (size_t i = 0; ok && i < vqn_vfio_fd_count(); i++) {
    const vqn_vfio_fd *f = vqn_vfio_fd_at(i);
    napi_value o, kind;
    ok = napi_create_object(env, &o) == napi_ok &&
         napi_create_string_utf8(env, kind_name(f->kind), NAPI_AUTO_LENGTH, &kind) == napi_ok &&
         vqn_set(env, o, "fd", vqn_number(env, f->fd)) && vqn_set(env, o, "kind", kind) &&
         vqn_set(env, o, "parent", vqn_number(env, f->parent)) &&
         vqn_set(env, o, "thisThread", vqn_bool(env, f->env == env)) && napi_set_element(env, list, (uint32_t)i, o) == napi_ok;
  }
  vqn_vfio_unlock();
  if (!ok) return vqn_throw_code(env, "ERR_NAPI", "vfioFds: building the list failed");
  return list;
}

// vfioDeviceInfo(device) -> { flags, numRegions, numIrqs, reset, pci }.
static napi_value device_info_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioDeviceInfo";
  napi_value argv[1], o;
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  struct vfio_device_info di = {.argsz = sizeof di};
  if (ioctl(fd, VFIO_DEVICE_GET_INFO, &di) < 0) return vqn_throw_errno(env, errno, "%s fd %d", fn, fd);
  VQN_CALL(env, napi_create_object(env, &o), NULL);
  if (!vqn_set(env, o, "flags", vqn_number(env, di.flags)) || !vqn_set(env, o, "numRegions", vqn_number(env, di.num_regions)) ||
      !vqn_set(env, o, "numIrqs", vqn_number(env, di.num_irqs)) ||
      !vqn_set(env, o, "reset", vqn_bool(env, di.flags & VFIO_DEVICE_FLAGS_RESET)) ||
      !vqn_set(env, o, "pci", vqn_bool(env, di.flags & VFIO_DEVICE_FLAGS_PCI))) return NULL;
  return o;
}

// The capability chain of an info struct `buf` of `argsz` bytes whose fixed part is `fixed`
// bytes, first capability at `first`: calls `each` per capability, bounded (MAX_CAPS, offsets
// inside the buffer, strictly increasing). Returns NULL (and throws) on a malformed chain.
typedef bool (*cap_fn)(napi_env env, const uint8_t *buf, uint32_t argsz, uint32_t at, napi_value caps);
static bool walk_caps(napi_env env, const char *fn, const uint8_t *buf, uint32_t argsz, uint32_t fixed, uint32_t first,
                      cap_fn each, napi_value caps) {
  uint32_t at = first, n = 0;
  while (at != 0) {
    if (n++ == MAX_CAPS || at < fixed || at % 4 != 0 || (uint64_t)at + sizeof(struct vfio_info_cap_header) > argsz) {
      vqn_throw_code(env, "EPROTO", "%s: malformed capability chain at offset %u (info is %u bytes)", fn, at, argsz);
      return false;
    }
    struct vfio_info_cap_header h;
    memcpy(&h, buf + at, sizeof h);
    if (!each(env, buf, argsz, at, caps)) return false;
    if (h.next != 0 && h.next <= at) {
      vqn_throw_code(env, "EPROTO", "%s: capability at offset %u points back to %u", fn, at, h.next);
      return false;
    }
    at = h.next;
  }
  return true;
}

static bool push_other(napi_env env, napi_value caps, uint16_t id) {
  napi_value other;
  uint32_t len = 0;
  VQN_CALL(env, napi_get_named_property(env, caps, "other", &other), false);
  VQN_CALL(env, napi_get_array_length(env, other, &len), false);
  VQN_CALL(env, napi_set_element(env, other, len, vqn_number(env, id)), false);
  return true;
}

// Capabilities are only 4-byte aligned in the buffer while some hold u64s: each is copied out
// (memcpy) before it is read.
static bool region_cap(napi_env env, const uint8_t *buf, uint32_t argsz, uint32_t at, napi_value caps) {
  struct vfio_info_cap_header h;
  memcpy(&h, buf + at, sizeof h);
  switch (h.id) {
    case VFIO_REGION_INFO_CAP_SPARSE_MMAP: {
      struct vfio_region_info_cap_sparse_mmap c;
      struct vfio_region_sparse_mmap_area area;
      if (argsz - at < sizeof c) {
        vqn_throw_code(env, "EPROTO", "vfioRegionInfo: sparse mmap capability at %u runs past the info", at);
        return false;
      }
      memcpy(&c, buf + at, sizeof c);
      if (c.nr_areas > (argsz - at - sizeof c) / sizeof area) {
        vqn_throw_code(env, "EPROTO", "vfioRegionInfo: sparse mmap capability at %u: %u areas run past the info", at, c.nr_areas);
        return false;
      }
      napi_value areas;
      VQN_CALL(env, napi_create_array(env, &areas), false);
      for (uint32_t i = 0; i < c.nr_areas; i++) {
        napi_value a;
        memcpy(&area, buf + at + sizeof c + i * sizeof area, sizeof area);
        VQN_CALL(env, napi_create_object(env, &a), false);
        if (!vqn_set(env, a, "offset", vqn_number(env, (double)area.offset)) ||
            !vqn_set(env, a, "size", vqn_number(env, (double)area.size))) return false;
        VQN_CALL(env, napi_set_element(env, areas, i, a), false);
      }
      return vqn_set(env, caps, "sparseMmap", areas);
    }
    case VFIO_REGION_INFO_CAP_TYPE: {
      struct vfio_region_info_cap_type c;
      if (argsz - at < sizeof c) {
        vqn_throw_code(env, "EPROTO", "vfioRegionInfo: type capability at %u runs past the info", at);
        return false;
      }
      memcpy(&c, buf + at, sizeof c);
      napi_value t;
      VQN_CALL(env, napi_create_object(env, &t), false);
      return vqn_set(env, t, "type", vqn_number(env, c.type)) && vqn_set(env, t, "subtype", vqn_number(env, c.subtype)) &&
             vqn_set(env, caps, "type", t);
    }
    case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
      return vqn_set(env, caps, "msixMappable", vqn_bool(env, true));
    default:
      return push_other(env, caps, h.id);
  }
}

// vfioRegionInfo(device, index) -> { index, flags, size, offset, read, write, mmap,
// caps: { sparseMmap?: [{ offset, size }], type?: { type, subtype }, msixMappable, other: [id] } }.
static napi_value region_info_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioRegionInfo";
  napi_value argv[2], o, caps, other;
  int fd;
  int64_t index;
  if (!vqn_args(env, info, 2, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_int(env, argv[1], fn, "index", 0, UINT32_MAX, &index)) return NULL;
  struct vfio_region_info first = {.argsz = sizeof first, .index = (uint32_t)index};
  if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &first) < 0) {
    return vqn_throw_errno(env, errno, "%s fd %d region %" PRId64, fn, fd, index);
  }
  uint32_t argsz = first.argsz > sizeof first ? first.argsz : (uint32_t)sizeof first;
  if (argsz > 1 << 20) return vqn_throw_code(env, "EPROTO", "%s: region %" PRId64 " info claims %u bytes", fn, index, argsz);
  struct vfio_region_info *ri = calloc(1, argsz);
  if (ri == NULL) return vqn_throw_errno(env, ENOMEM, "%s", fn);
  ri->argsz = argsz;
  ri->index = (uint32_t)index;
  if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
    int err = errno;
    free(ri);
    return vqn_throw_errno(env, err, "%s fd %d region %" PRId64, fn, fd, index);
  }
  napi_value result = NULL;
  if (napi_create_object(env, &o) == napi_ok && napi_create_object(env, &caps) == napi_ok &&
      napi_create_array(env, &other) == napi_ok && vqn_set(env, caps, "other", other) &&
      vqn_set(env, caps, "msixMappable", vqn_bool(env, false)) &&
      vqn_set(env, o, "index", vqn_number(env, ri->index)) && vqn_set(env, o, "flags", vqn_number(env, ri->flags)) &&
      vqn_set(env, o, "size", vqn_number(env, (double)ri->size)) &&
      vqn_set(env, o, "offset", vqn_number(env, (double)ri->offset)) &&
      vqn_set(env, o, "read", vqn_bool(env, ri->flags & VFIO_REGION_INFO_FLAG_READ)) &&
      vqn_set(env, o, "write", vqn_bool(env, ri->flags & VFIO_REGION_INFO_FLAG_WRITE)) &&
      vqn_set(env, o, "mmap", vqn_bool(env, ri->flags & VFIO_REGION_INFO_FLAG_MMAP)) &&
      (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) ||
       walk_caps(env, fn, (const uint8_t *)ri, ri->argsz < argsz ? ri->argsz : argsz, sizeof *ri, ri->cap_offset,
                 region_cap, caps)) &&
      vqn_set(env, o, "caps", caps)) {
    result = o;
  }
  free(ri);
  return result;
}

// vfioIrqInfo(device, index) -> { index, flags, count, eventfd, maskable, automasked, noresize }.
static napi_value irq_info_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioIrqInfo";
  napi_value argv[2], o;
  int fd;
  int64_t index;
  if (!vqn_args(env, info, 2, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_int(env, argv[1], fn, "index", 0, UINT32_MAX, &index)) return NULL;
  struct vfio_irq_info ii = {.argsz = sizeof ii, .index = (uint32_t)index};
  if (ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0) return vqn_throw_errno(env, errno, "%s fd %d irq %" PRId64, fn, fd, index);
  VQN_CALL(env, napi_create_object(env, &o), NULL);
  if (!vqn_set(env, o, "index", vqn_number(env, ii.index)) || !vqn_set(env, o, "flags", vqn_number(env, ii.flags)) ||
      !vqn_set(env, o, "count", vqn_number(env, ii.count)) ||
      !vqn_set(env, o, "eventfd", vqn_bool(env, ii.flags & VFIO_IRQ_INFO_EVENTFD)) ||
      !vqn_set(env, o, "maskable", vqn_bool(env, ii.flags & VFIO_IRQ_INFO_MASKABLE)) ||
      !vqn_set(env, o, "automasked", vqn_bool(env, ii.flags & VFIO_IRQ_INFO_AUTOMASKED)) ||
      !vqn_set(env, o, "noresize", vqn_bool(env, ii.flags & VFIO_IRQ_INFO_NORESIZE))) return NULL;
  return o;
}

// vfioSetIrqEventfds(device, index, start, fds): the interrupts [start, start + fds.length) of
// IRQ index `index` signal these eventfds (-1 leaves one unassigned); an empty list disables
// the whole index. The kernel keeps its own references to the eventfds.
static napi_value set_irq_eventfds_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioSetIrqEventfds";
  napi_value argv[4];
  int fd;
  int64_t index, start;
  uint32_t count = 0;
  bool is_array = false;
  if (!vqn_args(env, info, 4, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_int(env, argv[1], fn, "index", 0, UINT32_MAX, &index) || !vqn_int(env, argv[2], fn, "start", 0, 2048, &start)) {
    return NULL;
  }
  VQN_CALL(env, napi_is_array(env, argv[3], &is_array), NULL);
  if (!is_array) return vqn_throw_type(env, "%s: fds must be an array of eventfds", fn);
  VQN_CALL(env, napi_get_array_length(env, argv[3], &count), NULL);
  if (count > 2048) return vqn_throw_range(env, "%s: %u eventfds, at most 2048 (the MSI-X table's size)", fn, count);
  size_t size = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
  struct vfio_irq_set *set = calloc(1, size);
  if (set == NULL) return vqn_throw_errno(env, ENOMEM, "%s", fn);
  set->argsz = (uint32_t)size;
  set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | VFIO_IRQ_SET_ACTION_TRIGGER;
  set->index = (uint32_t)index;
  set->start = count ? (uint32_t)start : 0;
  set->count = count;
  int32_t *efds = (int32_t *)set->data;
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    int64_t e;
    if (napi_get_element(env, argv[3], i, &v) != napi_ok || !vqn_int(env, v, fn, "an eventfd", -1, INT32_MAX, &e)) {
      free(set);
      return NULL;
    }
    efds[i] = (int32_t)e;
  }
  int err = ioctl(fd, VFIO_DEVICE_SET_IRQS, set) < 0 ? errno : 0;
  free(set);
  if (err != 0) {
    return vqn_throw_errno(env, err, "%s fd %d irq %" PRId64 " [%" PRId64 ", %" PRId64 ")", fn, fd, index, start,
                           start + count);
  }
  return vqn_undefined(env);
}

// One SET_IRQS action without data on interrupt `sub` of IRQ `index` (argv: device, index, sub).
static napi_value irq_action(napi_env env, napi_callback_info info, const char *fn, uint32_t action) {
  napi_value argv[3];
  int fd;
  int64_t index, sub;
  if (!vqn_args(env, info, 3, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_int(env, argv[1], fn, "index", 0, UINT32_MAX, &index) || !vqn_int(env, argv[2], fn, "sub", 0, 2047, &sub)) return NULL;
  struct vfio_irq_set set = {.argsz = sizeof set, .flags = VFIO_IRQ_SET_DATA_NONE | action, .index = (uint32_t)index,
                             .start = (uint32_t)sub, .count = 1};
  if (ioctl(fd, VFIO_DEVICE_SET_IRQS, &set) < 0) return vqn_throw_errno(env, errno, "%s fd %d irq %" PRId64 ".%" PRId64, fn, fd, index, sub);
  return vqn_undefined(env);
}

// vfioUnmaskIrq(device, index, sub): unmasks one interrupt (INTx is masked by the kernel each
// time it fires: unmask it once the device's interrupt is handled).
static napi_value unmask_irq_js(napi_env env, napi_callback_info info) {
  return irq_action(env, info, "vfioUnmaskIrq", VFIO_IRQ_SET_ACTION_UNMASK);
}

// vfioTriggerIrq(device, index, sub): fires one interrupt from user space (its eventfd is
// signalled as if the device had raised it): a loopback check of the eventfd wiring.
static napi_value trigger_irq_js(napi_env env, napi_callback_info info) {
  return irq_action(env, info, "vfioTriggerIrq", VFIO_IRQ_SET_ACTION_TRIGGER);
}

// vfioReset(device): VFIO_DEVICE_RESET (only when vfioDeviceInfo says `reset`).
static napi_value reset_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioReset";
  napi_value argv[1];
  int fd;
  if (!vqn_args(env, info, 1, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (ioctl(fd, VFIO_DEVICE_RESET) < 0) return vqn_throw_errno(env, errno, "%s fd %d", fn, fd);
  return vqn_undefined(env);
}

// vfioIoeventfd(device, offset, width, data, eventfd): VFIO_DEVICE_IOEVENTFD: from now on, each
// signal of `eventfd` makes the kernel write `data` (`width` bytes: 1, 2, 4 or 8) at the device
// fd's `offset` (a BAR's region offset plus the offset within it): a doorbell any thread rings
// with an eventfd write. eventfd -1 takes the one at (offset, width, data) away. The device's
// close drops them all.
static napi_value ioeventfd_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioIoeventfd";
  napi_value argv[5];
  int fd;
  uint64_t offset, data;
  int64_t width, efd;
  if (!vqn_args(env, info, 5, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_u64(env, argv[1], fn, "offset", &offset) || !vqn_int(env, argv[2], fn, "width", 1, 8, &width) ||
      !vqn_u64(env, argv[3], fn, "data", &data) || !vqn_int(env, argv[4], fn, "eventfd", -1, INT32_MAX, &efd)) {
    return NULL;
  }
  uint32_t flags = width == 1 ? VFIO_DEVICE_IOEVENTFD_8 : width == 2 ? VFIO_DEVICE_IOEVENTFD_16
                 : width == 4 ? VFIO_DEVICE_IOEVENTFD_32 : width == 8 ? VFIO_DEVICE_IOEVENTFD_64 : 0;
  if (flags == 0) return vqn_throw_range(env, "%s: width %" PRId64 ", 1, 2, 4 or 8 bytes", fn, width);
  if (width < 8 && data >> (8 * width) != 0) return vqn_throw_range(env, "%s: data 0x%" PRIx64 " is wider than %" PRId64 " bytes", fn, data, width);
  struct vfio_device_ioeventfd ev = {.argsz = sizeof ev, .flags = flags, .offset = offset, .data = data, .fd = (int32_t)efd};
  if (ioctl(fd, VFIO_DEVICE_IOEVENTFD, &ev) < 0) {
    return vqn_throw_errno(env, errno, "%s fd %d at 0x%" PRIx64 " (%" PRId64 " bytes of 0x%" PRIx64 ", eventfd %" PRId64 ")", fn, fd,
                           offset, width, data, efd);
  }
  return vqn_undefined(env);
}

// vfioRead(device, offset, length) -> Buffer: pread at the device fd's offset (a region's offset
// plus the offset within it); PCI config space is read this way. A short read throws.
static napi_value read_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioRead";
  napi_value argv[3], buf;
  int fd;
  uint64_t offset;
  int64_t length;
  void *data;
  if (!vqn_args(env, info, 3, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_u64(env, argv[1], fn, "offset", &offset) || !vqn_int(env, argv[2], fn, "length", 1, 1 << 20, &length)) return NULL;
  if (offset > INT64_MAX - (uint64_t)length) return vqn_throw_range(env, "%s: offset 0x%" PRIx64 " too large", fn, offset);
  VQN_CALL(env, napi_create_buffer(env, (size_t)length, &data, &buf), NULL);
  ssize_t n;
  do n = pread(fd, data, (size_t)length, (off_t)offset); while (n < 0 && errno == EINTR);
  if (n < 0) return vqn_throw_errno(env, errno, "%s fd %d at 0x%" PRIx64, fn, fd, offset);
  if (n != length) {
    return vqn_throw_code(env, "EIO", "%s fd %d at 0x%" PRIx64 ": %zd of %" PRId64 " bytes", fn, fd, offset, n, length);
  }
  return buf;
}

// vfioWrite(device, offset, data): pwrite of all of `data` (a Uint8Array) at the offset.
static napi_value write_js(napi_env env, napi_callback_info info) {
  const char *fn = "vfioWrite";
  napi_value argv[3];
  int fd;
  uint64_t offset;
  bool typed = false;
  if (!vqn_args(env, info, 3, argv, NULL, fn) || !vqn_fd(env, argv[0], fn, &fd)) return NULL;
  if (!vqn_u64(env, argv[1], fn, "offset", &offset)) return NULL;
  VQN_CALL(env, napi_is_typedarray(env, argv[2], &typed), NULL);
  if (!typed) return vqn_throw_type(env, "%s: data must be a Uint8Array", fn);
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void *data = NULL;
  napi_value ab;
  VQN_CALL(env, napi_get_typedarray_info(env, argv[2], &type, &length, &data, &ab, &byte_offset), NULL);
  if (type != napi_uint8_array) return vqn_throw_type(env, "%s: data must be a Uint8Array", fn);
  if (length == 0 || length > 1 << 20) return vqn_throw_range(env, "%s: %zu bytes, from 1 to 2^20 allowed", fn, length);
  if (offset > INT64_MAX - length) return vqn_throw_range(env, "%s: offset 0x%" PRIx64 " too large", fn, offset);
  ssize_t n;
  do n = pwrite(fd, data, length, (off_t)offset); while (n < 0 && errno == EINTR);
  if (n < 0) return vqn_throw_errno(env, errno, "%s fd %d at 0x%" PRIx64, fn, fd, offset);
  if ((size_t)n != length) return vqn_throw_code(env, "EIO", "%s fd %d at 0x%" PRIx64 ": %zd of %zu bytes", fn, fd, offset, n, length);
  return vqn_undefined(env);
}

bool vqn_init_vfio(napi_env env, napi_value exports) {
  return vqn_vfio_registry_init(env) &&
         vqn_export(env, exports, "vfioOpenContainer", open_container_js) &&
         vqn_export(env, exports, "vfioOpenGroup", open_group_js) &&
         vqn_export(env, exports, "vfioGroupStatus", group_status_js) &&
         vqn_export(env, exports, "vfioGroupSetContainer", group_set_container_js) &&
         vqn_export(env, exports, "vfioSetIommu", set_iommu_js) &&
         vqn_export(env, exports, "vfioGetDeviceFd", get_device_fd_js) &&
         vqn_export(env, exports, "vfioClose", close_js) &&
         vqn_export(env, exports, "vfioFds", fds_js) &&
         vqn_export(env, exports, "vfioDeviceInfo", device_info_js) &&
         vqn_export(env, exports, "vfioRegionInfo", region_info_js) &&
         vqn_export(env, exports, "vfioIrqInfo", irq_info_js) &&
         vqn_export(env, exports, "vfioSetIrqEventfds", set_irq_eventfds_js) &&
         vqn_export(env, exports, "vfioUnmaskIrq", unmask_irq_js) &&
         vqn_export(env, exports, "vfioTriggerIrq", trigger_irq_js) &&
         vqn_export(env, exports, "vfioReset", reset_js) &&
         vqn_export(env, exports, "vfioIoeventfd", ioeventfd_js) &&
         vqn_export(env, exports, "vfioRead", read_js) &&
         vqn_export(env, exports, "vfioWrite", write_js) &&
         vqn_set(env, exports, "VFIO_PCI_CONFIG_REGION_INDEX", vqn_number(env, VFIO_PCI_CONFIG_REGION_INDEX)) &&
         vqn_set(env, exports, "VFIO_PCI_INTX_IRQ_INDEX", vqn_number(env, VFIO_PCI_INTX_IRQ_INDEX)) &&
         vqn_set(env, exports, "VFIO_PCI_MSI_IRQ_INDEX", vqn_number(env, VFIO_PCI_MSI_IRQ_INDEX)) &&
         vqn_set(env, exports, "VFIO_PCI_MSIX_IRQ_INDEX", vqn_number(env, VFIO_PCI_MSIX_IRQ_INDEX)) &&
         vqn_set(env, exports, "VFIO_PCI_REQ_IRQ_INDEX", vqn_number(env, VFIO_PCI_REQ_IRQ_INDEX));
}
