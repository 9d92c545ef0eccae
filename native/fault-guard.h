// Surviving a file that shrinks under its mapping. A peer can ftruncate a file after we mapped
// it; touching a page past the new end raises SIGBUS (BUS_ADRERR), which kills the process by
// default, whichever thread touched it (the main thread in JS, a worker in Wasm). The guard is a
// SIGBUS handler, installed with the first mapping, that puts anonymous zero pages over the whole
// mapping the fault hit (the access is retried and reads zeros), records the fault and wakes the
// eventfds registered for it. A SIGBUS anywhere else goes to the previous handler, or kills the
// process as it would have. The handler takes no lock: the mappings it knows are a fixed table
// published with atomics, kept by mapping.c beside the registry (whose mutex it cannot take).
#ifndef VQN_FAULT_GUARD_H
#define VQN_FAULT_GUARD_H

#include <stdbool.h>
#include <stdint.h>

// Mappings guarded at once (live ones; mapIntoMemory refuses more).
#define VQN_GUARD_SLOTS 256
// Faults remembered (older ones are overwritten; their sequence numbers say how many went).
#define VQN_FAULT_LOG 64
// Eventfds woken on a fault (one per Node environment that watches).
#define VQN_FAULT_WAKERS 16

typedef struct {
  uint64_t seq;        // 1, 2, ...: the fault's number in this process
  uint64_t mapping;    // id of the mapping (vqn_guard_add)
  uint64_t base;       // the memory's backing store address
  uint64_t offset;     // the mapping's offset in the memory
  uint64_t length;
  uint64_t fd_offset;
  uint64_t address;    // the faulting byte, from the mapping's start
  int32_t fd;          // as given when mapped
  int32_t thread;      // kernel thread id that faulted
  bool replaced;       // zero pages went over the mapping (false: mmap failed and the fault killed us)
} vqn_fault;

// Installs the handler (once per process). 0 or an errno.
int vqn_guard_install(void);
bool vqn_guard_installed(void);

// Publishes a mapping about to be made over [base + offset, + length). The slot number, or -1
// when every slot is taken; *id is the mapping's id.
int vqn_guard_add(uintptr_t base, uint64_t offset, uint64_t length, int fd, uint64_t fd_offset, uint64_t *id);
// Before the mapping's pages are replaced (unmap): when this returns, the handler no longer acts
// on the slot (a fault in it is retried until the pages are zero pages).
void vqn_guard_retire_begin(int slot);
// After the pages were replaced: the slot may be reused.
void vqn_guard_retire_end(int slot);
// The pages could not be replaced after all: the mapping is live again.
void vqn_guard_retire_cancel(int slot);

// Faults recorded so far in this process.
uint64_t vqn_fault_count(void);
// The fault numbered `seq`: 1 when copied, 0 when it is not written yet, -1 when overwritten.
int vqn_fault_get(uint64_t seq, vqn_fault *out);

// Registers an eventfd to be written (1) on every fault. 0, or ENOSPC.
int vqn_fault_wake_add(int fd);
// Unregisters it; when this returns no handler writes to it any more (the caller closes it).
void vqn_fault_wake_remove(int fd);

#endif
