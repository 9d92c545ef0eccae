// The process-wide registry of what the VFIO functions opened and mapped (see vfio.h), and its
// release: by vfioClose, and for a whole Node environment (thread) when it ends, devices first,
// then groups, then containers, so that each release finds nothing depending on it.
#include "vfio.h"

#include <errno.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

// A growable array of T: items, count, capacity.
#define VEC(T) struct { T *items; size_t count, capacity; }
static VEC(vqn_vfio_fd) fds;
static VEC(vqn_vfio_dma) dmas;
static VEC(vqn_vfio_bar) bars;
static uint32_t last_bar_id = 0;

#define VEC_PUSH(v, item)                                                      \
  do {                                                                         \
    if ((v).count == (v).capacity) {                                           \
      size_t next = (v).capacity ? (v).capacity * 2 : 8;                       \
      void *grown = realloc((v).items, next * sizeof *(v).items);              \
      if (grown == NULL) return false;                                         \
      (v).items = grown;                                                       \
      (v).capacity = next;                                                     \
    }                                                                          \
    (v).items[(v).count++] = (item);                                           \
  } while (0)
#define VEC_REMOVE(v, p) ((v).items[(p) - (v).items] = (v).items[--(v).count])

void vqn_vfio_lock(void) { pthread_mutex_lock(&lock); }
void vqn_vfio_unlock(void) { pthread_mutex_unlock(&lock); }

vqn_vfio_fd *vqn_vfio_fd_find(int fd) {
  for (size_t i = 0; i < fds.count; i++) {
    if (fds.items[i].fd == fd) return &fds.items[i];
  }
  return NULL;
}

bool vqn_vfio_fd_add(napi_env env, int fd, vqn_vfio_kind kind, int parent) {
  vqn_vfio_fd f = {.env = env, .fd = fd, .kind = kind, .parent = parent};
  VEC_PUSH(fds, f);
  return true;
}

bool vqn_vfio_dma_add(const vqn_vfio_dma *d) {
  VEC_PUSH(dmas, *d);
  return true;
}

bool vqn_vfio_bar_add(const vqn_vfio_bar *b) {
  VEC_PUSH(bars, *b);
  return true;
}

vqn_vfio_dma *vqn_vfio_dma_find(int container, uint64_t iova, uint64_t size) {
  for (size_t i = 0; i < dmas.count; i++) {
    vqn_vfio_dma *d = &dmas.items[i];
    if (d->container == container && d->iova == iova && d->size == size) return d;
  }
  return NULL;
}

const vqn_vfio_dma *vqn_vfio_dma_overlap(int container, uint64_t iova, uint64_t size) {
  for (size_t i = 0; i < dmas.count; i++) {
    const vqn_vfio_dma *d = &dmas.items[i];
    if (d->container == container && iova < d->iova + d->size && d->iova < iova + size) return d;
  }
  return NULL;
}

void vqn_vfio_dma_remove(vqn_vfio_dma *d) { VEC_REMOVE(dmas, d); }

vqn_vfio_bar *vqn_vfio_bar_find(uint32_t id) {
  for (size_t i = 0; i < bars.count; i++) {
    if (bars.items[i].id == id) return &bars.items[i];
  }
  return NULL;
}

uint32_t vqn_vfio_bar_next_id(void) {
  if (++last_bar_id == 0) last_bar_id = 1;
  return last_bar_id;
}

void vqn_vfio_bar_release(vqn_vfio_bar *b) {
  munmap(b->addr, (size_t)b->size);
  VEC_REMOVE(bars, b);
}

size_t vqn_vfio_dma_count(void) { return dmas.count; }
vqn_vfio_dma *vqn_vfio_dma_at(size_t i) { return &dmas.items[i]; }
size_t vqn_vfio_fd_count(void) { return fds.count; }
vqn_vfio_fd *vqn_vfio_fd_at(size_t i) { return &fds.items[i]; }
size_t vqn_vfio_bar_count(void) { return bars.count; }
vqn_vfio_bar *vqn_vfio_bar_at(size_t i) { return &bars.items[i]; }

bool vqn_vfio_owns(int fd) {
  vqn_vfio_lock();
  bool owned = vqn_vfio_fd_find(fd) != NULL;
  vqn_vfio_unlock();
  return owned;
}

bool vqn_vfio_dma_covers(uintptr_t addr, uint64_t len) {
  vqn_vfio_lock();
  bool hit = false;
  for (size_t i = 0; !hit && i < dmas.count; i++) hit = addr < dmas.items[i].vaddr + dmas.items[i].size && dmas.items[i].vaddr < addr + len;
  vqn_vfio_unlock();
  return hit;
}

static bool has_child(int fd, vqn_vfio_kind kind) {
  for (size_t i = 0; i < fds.count; i++) {
    if (fds.items[i].kind == kind && fds.items[i].parent == fd) return true;
  }
  return false;
}

int vqn_vfio_release(vqn_vfio_fd *f, const char **what) {
  switch (f->kind) {
    case VQN_VFIO_DEVICE:
      for (size_t i = 0; i < bars.count;) {
        if (bars.items[i].device == f->fd) vqn_vfio_bar_release(&bars.items[i]);
        else i++;
      }
      // Closing the device fd also disables its interrupts and drops their eventfds (the kernel's
      // vfio_pci_core_close_device).
      break;
    case VQN_VFIO_GROUP:
      if (has_child(f->fd, VQN_VFIO_DEVICE)) {
        *what = "a device of the group is still open";
        return EBUSY;
      }
      if (f->parent >= 0) ioctl(f->fd, VFIO_GROUP_UNSET_CONTAINER);
      break;
    case VQN_VFIO_CONTAINER:
      if (has_child(f->fd, VQN_VFIO_GROUP)) {
        *what = "a group is still set to the container";
        return EBUSY;
      }
      for (size_t i = 0; i < dmas.count;) {
        vqn_vfio_dma *d = &dmas.items[i];
        if (d->container != f->fd) {
          i++;
          continue;
        }
        // Unmapped explicitly (closing the container would too) so the pages are unpinned now.
        struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof u, .iova = d->iova, .size = d->size};
        ioctl(f->fd, VFIO_IOMMU_UNMAP_DMA, &u);
        vqn_vfio_dma_remove(d);
      }
      break;
  }
  close(f->fd);
  VEC_REMOVE(fds, f);
  return 0;
}

// When a thread's Node environment ends: its devices, groups and containers, in that order.
static void release_env(void *arg) {
  napi_env env = arg;
  static const vqn_vfio_kind order[] = {VQN_VFIO_DEVICE, VQN_VFIO_GROUP, VQN_VFIO_CONTAINER};
  vqn_vfio_lock();
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    for (size_t i = 0; i < fds.count;) {
      const char *what = NULL;
      vqn_vfio_fd *f = &fds.items[i];
      if (f->env != env || f->kind != order[k] || vqn_vfio_release(f, &what) != 0) i++;
    }
  }
  vqn_vfio_unlock();
}

bool vqn_vfio_registry_init(napi_env env) {
  VQN_CALL(env, napi_add_env_cleanup_hook(env, release_env, env), false);
  return true;
}
