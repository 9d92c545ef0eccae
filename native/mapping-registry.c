// The process-wide registry of live mappings. Mappings are per process (every thread sees them),
// so the registry is too: one list under one lock, shared by every Node environment (thread)
// that loads the addon.
#define _GNU_SOURCE
#include "mapping.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static vqn_mapping *entries = NULL;
static size_t count = 0, capacity = 0;

void vqn_registry_lock(void) { pthread_mutex_lock(&lock); }
void vqn_registry_unlock(void) { pthread_mutex_unlock(&lock); }

const vqn_mapping *vqn_registry_overlap(uintptr_t addr, uint64_t len) {
  for (size_t i = 0; i < count; i++) {
    uintptr_t start = entries[i].base + entries[i].offset;
    if (addr < start + entries[i].length && start < addr + len) return &entries[i];
  }
  return NULL;
}

vqn_mapping *vqn_registry_find(uintptr_t addr, uint64_t len) {
  for (size_t i = 0; i < count; i++) {
    if (entries[i].base + entries[i].offset == addr && entries[i].length == len) return &entries[i];
  }
  return NULL;
}

bool vqn_registry_add(const vqn_mapping *m) {
  if (count == capacity) {
    size_t next = capacity ? capacity * 2 : 8;
    vqn_mapping *grown = realloc(entries, next * sizeof *entries);
    if (grown == NULL) return false;
    entries = grown;
    capacity = next;
  }
  entries[count++] = *m;
  return true;
}

void vqn_registry_remove(vqn_mapping *m) {
  size_t i = (size_t)(m - entries);
  entries[i] = entries[--count];
}

size_t vqn_registry_count(void) { return count; }
vqn_mapping *vqn_registry_at(size_t i) { return &entries[i]; }

int vqn_zero_pages(uintptr_t addr, uint64_t len) {
  // Private anonymous pages, as V8 reserves a Wasm memory with: threads share the address space,
  // so every thread sees these pages; MAP_NORESERVE as V8 uses (no swap reservation up front).
  void *p = mmap((void *)addr, (size_t)len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? errno : 0;
}
