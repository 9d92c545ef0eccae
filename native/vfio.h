// VFIO (Linux's user-space device access): what the bridge opened and mapped, kept in one
// process-wide registry (vfio-registry.c) so that every fd, BAR mapping and DMA mapping is
// released by vfioClose, when its thread's Node environment ends, or when the process exits.
//   vfio.c           container, group and device fds; device, region and IRQ info; IRQ eventfds; reset
//   vfio-dma.c       IOMMU info, DMA map and unmap of a shared memory's pages at chosen IOVAs
//   vfio-mmio.c      BARs mmapped, and read and written at exact widths
#ifndef VQN_VFIO_H
#define VQN_VFIO_H

#include "common.h"

#include <stdint.h>

typedef enum { VQN_VFIO_CONTAINER, VQN_VFIO_GROUP, VQN_VFIO_DEVICE } vqn_vfio_kind;

// Every entry belongs to the Node environment (thread) that made it.
typedef struct {
  napi_env env;
  int fd;
  vqn_vfio_kind kind;
  int parent;  // a group: the container it was set to (-1: none); a device: its group
} vqn_vfio_fd;

typedef struct {
  napi_env env;
  int container;
  uint64_t iova, size, vaddr;
} vqn_vfio_dma;

typedef struct {
  napi_env env;
  uint32_t id;
  int device;
  uint8_t *addr;
  uint64_t size, offset;  // offset: in the device fd (region offset + offset within the region)
} vqn_vfio_bar;

// All under one lock: vqn_vfio_lock() / vqn_vfio_unlock().
void vqn_vfio_lock(void);
void vqn_vfio_unlock(void);

// Locked. NULL when absent.
vqn_vfio_fd *vqn_vfio_fd_find(int fd);
// Locked. false when out of memory.
bool vqn_vfio_fd_add(napi_env env, int fd, vqn_vfio_kind kind, int parent);
bool vqn_vfio_dma_add(const vqn_vfio_dma *d);
bool vqn_vfio_bar_add(const vqn_vfio_bar *b);
// Locked. The DMA mapping of `container` at exactly [iova, iova + size), or NULL.
vqn_vfio_dma *vqn_vfio_dma_find(int container, uint64_t iova, uint64_t size);
// Locked. The DMA mapping of `container` overlapping [iova, iova + size), or NULL.
const vqn_vfio_dma *vqn_vfio_dma_overlap(int container, uint64_t iova, uint64_t size);
void vqn_vfio_dma_remove(vqn_vfio_dma *d);
vqn_vfio_bar *vqn_vfio_bar_find(uint32_t id);
uint32_t vqn_vfio_bar_next_id(void);
void vqn_vfio_bar_release(vqn_vfio_bar *b);
size_t vqn_vfio_dma_count(void);
vqn_vfio_dma *vqn_vfio_dma_at(size_t i);
size_t vqn_vfio_fd_count(void);
vqn_vfio_fd *vqn_vfio_fd_at(size_t i);
size_t vqn_vfio_bar_count(void);
vqn_vfio_bar *vqn_vfio_bar_at(size_t i);

// Locked. Releases one registered fd and what hangs on it: a device's BAR mappings; a group's
// container (UNSET_CONTAINER); a container's DMA mappings (each unmapped). Returns 0, or EBUSY
// (with *what naming why) when something still depends on it: a group with an open device, a
// container with a group set to it. The fd is closed and out of the registry when 0 is returned.
int vqn_vfio_release(vqn_vfio_fd *f, const char **what);

// Whether the registry owns `fd` (close() refuses it: vfioClose releases it properly).
bool vqn_vfio_owns(int fd);
// Whether a DMA mapping covers any of the process addresses [addr, addr + len) (takes the lock;
// unmapFromMemory refuses such a range).
bool vqn_vfio_dma_covers(uintptr_t addr, uint64_t len);

// Registers the cleanup hook that releases an environment's entries when it ends.
bool vqn_vfio_registry_init(napi_env env);

bool vqn_init_vfio(napi_env env, napi_value exports);
bool vqn_init_vfio_dma(napi_env env, napi_value exports);
bool vqn_init_vfio_mmio(napi_env env, napi_value exports);

#endif
