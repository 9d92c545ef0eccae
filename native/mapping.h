// Mapping files over a shared memory's pages: the memory's base address (memory-view.c), and the
// process-wide registry of live mappings (mapping-registry.c) that map and unmap (mapping.c) keep.
#ifndef VQN_MAPPING_H
#define VQN_MAPPING_H

#include "common.h"

#include <stddef.h>
#include <unistd.h>

size_t vqn_page_size(void);

// Base address and byte length of the SharedArrayBuffer under `view`, a Uint8Array over all of
// it; throws (naming `fn`) and returns false for anything else.
bool vqn_memory_view(napi_env env, napi_value view, const char *fn, uint8_t **base, size_t *size);

typedef struct {
  napi_env env;      // thread (Node environment) that made the mapping; only it may unmap
  napi_ref pin;      // strong reference to the view: the memory cannot be freed while mapped
  uintptr_t base;    // backing store address
  uint64_t offset;   // bytes from base
  uint64_t length;
  uint64_t fd_offset;
  int fd;            // as given when mapped (the mapping holds the file, not the fd)
  int guard;         // its slot in the SIGBUS guard's table (fault-guard.h)
} vqn_mapping;

// All of these take the registry lock themselves, except where noted.
void vqn_registry_lock(void);
void vqn_registry_unlock(void);
// Locked: the first mapping overlapping [addr, addr + len), or NULL.
const vqn_mapping *vqn_registry_overlap(uintptr_t addr, uint64_t len);
// Locked: the mapping exactly at [addr, addr + len), or NULL.
vqn_mapping *vqn_registry_find(uintptr_t addr, uint64_t len);
// Locked: adds a copy of `m`; false when out of memory.
bool vqn_registry_add(const vqn_mapping *m);
// Locked: removes the entry `m` points at (from vqn_registry_find).
void vqn_registry_remove(vqn_mapping *m);
// Locked: number of entries and the i-th one.
size_t vqn_registry_count(void);
vqn_mapping *vqn_registry_at(size_t i);

// Puts fresh zero pages over [addr, addr + len): what unmapping leaves behind. 0 or an errno.
int vqn_zero_pages(uintptr_t addr, uint64_t len);

#endif
