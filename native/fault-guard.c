// The SIGBUS guard (see fault-guard.h). Everything the handler touches is in fixed arrays of
// atomics: it may run on any thread, at any instruction, while another thread holds the mapping
// registry's mutex. Writers (mapping.c, under that mutex) never wait on a handler for longer than
// it takes to run: a handler counts itself in `busy` for as long as it may act on a slot or a
// wake fd, and a writer that takes one away waits until `busy` is 0 before going on.
#define _GNU_SOURCE
#include "fault-guard.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum { FREE, LIVE, RETIRING, RETIRED };
enum { INTACT, REPLACING, REPLACED, REPLACE_FAILED };

typedef struct {
  _Atomic uint64_t gen;  // odd while the fields below are being rewritten
  _Atomic int state;
  _Atomic int faulted;
  _Atomic uintptr_t start;
  _Atomic uint64_t length, base, offset, fd_offset, id;
  _Atomic int fd;
} slot_t;

typedef struct {
  _Atomic uint64_t seq;  // the fault's number once written, 0 while being written
  _Atomic uint64_t mapping, base, offset, length, fd_offset, address;
  _Atomic int32_t fd, thread;
  _Atomic bool replaced;
} record_t;

static slot_t slots[VQN_GUARD_SLOTS];
static record_t records[VQN_FAULT_LOG];
static _Atomic int wakers[VQN_FAULT_WAKERS] = {[0 ... VQN_FAULT_WAKERS - 1] = -1};
static _Atomic uint64_t fault_count = 0;
static _Atomic uint64_t next_id = 0;
static _Atomic int busy = 0;
// Bumped by every writer after it changes a slot's state: a verdict of "not ours" reached while
// it moved is retried (see judge).
static _Atomic uint64_t table_gen = 0;

static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_error = 0;
static _Atomic bool installed = false;

static void wait_for_handlers(void) {
  while (atomic_load(&busy) != 0) sched_yield();
}

// -- The handler ----------------------------------------------------------------------------------

typedef enum { NOT_OURS, RETRY } verdict_t;

static void *zero_pages(uintptr_t start, uint64_t length) {
  // The raw system call: no interposed mmap (a sanitizer's) runs inside the handler.
  return (void *)syscall(SYS_mmap, (void *)start, (size_t)length, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
}

static void wake(void) {
  uint64_t one = 1;
  for (int i = 0; i < VQN_FAULT_WAKERS; i++) {
    int fd = atomic_load(&wakers[i]);
    if (fd >= 0) {
      ssize_t n = write(fd, &one, sizeof one);  // a full counter (EAGAIN) is still readable
      (void)n;
    }
  }
}

static void record(slot_t *s, uintptr_t addr, bool replaced) {
  uint64_t n = atomic_fetch_add(&fault_count, 1);
  record_t *r = &records[n % VQN_FAULT_LOG];
  atomic_store(&r->seq, 0);
  atomic_store_explicit(&r->mapping, atomic_load(&s->id), memory_order_relaxed);
  atomic_store_explicit(&r->base, atomic_load(&s->base), memory_order_relaxed);
  atomic_store_explicit(&r->offset, atomic_load(&s->offset), memory_order_relaxed);
  atomic_store_explicit(&r->length, atomic_load(&s->length), memory_order_relaxed);
  atomic_store_explicit(&r->fd_offset, atomic_load(&s->fd_offset), memory_order_relaxed);
  atomic_store_explicit(&r->address, addr - atomic_load(&s->start), memory_order_relaxed);
  atomic_store_explicit(&r->fd, atomic_load(&s->fd), memory_order_relaxed);
  atomic_store_explicit(&r->thread, (int32_t)syscall(SYS_gettid), memory_order_relaxed);
  atomic_store_explicit(&r->replaced, replaced, memory_order_relaxed);
  atomic_store_explicit(&r->seq, n + 1, memory_order_release);
}

// Whether the byte at `addr` can be read now, asked of the kernel (a copy from a page that
// cannot be read fails with EFAULT instead of raising a signal). A fault is handled some time
// after it was raised: by then its mapping may have been unmapped, even replaced by a new one at
// the same address. Where process_vm_readv is not allowed (a seccomp filter), access() on the
// address as a path is asked instead: it reads up to the first zero byte, so it may also fail
// for a page after this one (the fault is then taken as it came: no worse than no probe).
static bool readable(uintptr_t addr) {
  unsigned char byte;
  struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
  if (syscall(SYS_process_vm_readv, (long)getpid(), &local, 1UL, &remote, 1UL, 0UL) == 1) return true;
  if (errno == EFAULT) return false;
  return syscall(SYS_access, (const char *)addr, F_OK) == 0 || errno != EFAULT;
}

// A fault in a live mapping: the first thread to get here replaces the whole mapping with zero
// pages (the session that owns it is over: a consistent all-zero view beats a half-truncated
// one), records it and wakes the watchers; the others retry once it is done.
static verdict_t on_live(slot_t *s, uintptr_t addr) {
  int expected = atomic_load(&s->faulted);
  if (expected == INTACT && readable(addr)) return RETRY;  // stale: raised in a mapping since gone
  if (expected == INTACT && atomic_compare_exchange_strong(&s->faulted, &expected, REPLACING)) {
    uintptr_t start = atomic_load(&s->start);
    uint64_t length = atomic_load(&s->length);
    bool ok = zero_pages(start, length) == (void *)start;
    atomic_store(&s->faulted, ok ? REPLACED : REPLACE_FAILED);
    record(s, addr, ok);
    wake();
    return ok ? RETRY : NOT_OURS;
  }
  return expected == REPLACE_FAILED ? NOT_OURS : RETRY;
}

// A fault where no live mapping is but one is being unmapped, or was since the fault was raised.
// While it is unmapped the pages are about to become zero pages: the access is retried. After,
// it is retried only if the page reads now (zero pages cannot fault: a page that still does
// belongs to something mapped there since, and the fault is not ours).
static verdict_t on_retired(int state, uintptr_t addr) {
  if (state == RETIRING) return RETRY;
  return readable(addr) ? RETRY : NOT_OURS;
}

// Whether slot `s` covers `addr`, with its state (never while the slot is being rewritten).
static bool covers(slot_t *s, uintptr_t addr, int *state) {
  uint64_t gen = atomic_load(&s->gen);
  if (gen & 1) return false;
  *state = atomic_load(&s->state);
  if (*state == FREE) return false;
  uintptr_t start = atomic_load(&s->start);
  uint64_t length = atomic_load(&s->length);
  return addr >= start && addr - start < length && atomic_load(&s->gen) == gen;
}

static verdict_t scan(uintptr_t addr) {
  // A live mapping first: older ones at the same address may be retired in other slots.
  int state, gone = FREE;
  for (int i = 0; i < VQN_GUARD_SLOTS; i++) {
    if (!covers(&slots[i], addr, &state)) continue;
    if (state == LIVE) return on_live(&slots[i], addr);
    if (gone != RETIRING) gone = state;
  }
  return gone == FREE ? NOT_OURS : on_retired(gone, addr);
}

// The scan reads the slots one by one and then asks the kernel about the page: a mapping made
// (and its file shrunk) in between is seen by the probe but not by the scan, and its fault would
// pass for someone else's. So "not ours" holds only if no writer moved while it was reached;
// otherwise the access is retried, and a fault that is real comes back to be judged again.
static verdict_t judge(uintptr_t addr) {
  uint64_t gen = atomic_load(&table_gen);
  verdict_t v = scan(addr);
  return v == NOT_OURS && atomic_load(&table_gen) != gen ? RETRY : v;
}

// Not a fault of a guarded mapping: whatever would have happened without the guard.
static void chain(int sig, siginfo_t *info, void *context) {
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != NULL) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  // A SIGBUS someone sent, to a process that ignored it before: still ignored. A fault cannot be
  // ignored (the kernel forces it), and neither can it here.
  if (previous.sa_handler == SIG_IGN && !(previous.sa_flags & SA_SIGINFO) && info->si_code <= 0) return;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, NULL);
  // Pending until the handler returns, then fatal: the process dies of SIGBUS, as without us.
  raise(SIGBUS);
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  int saved = errno;
  if (info->si_code == BUS_ADRERR) {  // from the kernel: a page with no file behind it
    atomic_fetch_add(&busy, 1);
    verdict_t v = judge((uintptr_t)info->si_addr);
    atomic_fetch_sub(&busy, 1);
    if (v == RETRY) {
      errno = saved;
      return;
    }
  }
  chain(sig, info, context);
  errno = saved;
}

static void install(void) {
  if (sigaction(SIGBUS, NULL, &previous) < 0) {
    install_error = errno;
    return;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sigemptyset(&sa.sa_mask);
  // SA_ONSTACK: on a thread with an alternate signal stack, the handler runs there.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  if (sigaction(SIGBUS, &sa, NULL) < 0) {
    install_error = errno;
    return;
  }
  atomic_store(&installed, true);
}

int vqn_guard_install(void) {
  pthread_once(&once, install);
  return install_error;
}

bool vqn_guard_installed(void) { return atomic_load(&installed); }

// -- Writers (under the registry mutex) -----------------------------------------------------------

int vqn_guard_add(uintptr_t base, uint64_t offset, uint64_t length, int fd, uint64_t fd_offset, uint64_t *id) {
  // A free slot first, else a retired one (a late fault in it is judged by reading the page).
  int pick = -1;
  for (int i = 0; i < VQN_GUARD_SLOTS && pick < 0; i++) if (atomic_load(&slots[i].state) == FREE) pick = i;
  for (int i = 0; i < VQN_GUARD_SLOTS && pick < 0; i++) if (atomic_load(&slots[i].state) == RETIRED) pick = i;
  if (pick < 0) return -1;
  slot_t *s = &slots[pick];
  *id = atomic_fetch_add(&next_id, 1) + 1;
  atomic_fetch_add(&s->gen, 1);
  atomic_store(&s->state, FREE);
  atomic_store(&s->faulted, INTACT);
  atomic_store(&s->start, base + offset);
  atomic_store(&s->length, length);
  atomic_store(&s->base, base);
  atomic_store(&s->offset, offset);
  atomic_store(&s->fd_offset, fd_offset);
  atomic_store(&s->fd, fd);
  atomic_store(&s->id, *id);
  atomic_store(&s->state, LIVE);
  atomic_fetch_add(&s->gen, 1);
  atomic_fetch_add(&table_gen, 1);
  return pick;
}

void vqn_guard_retire_begin(int slot) {
  atomic_store(&slots[slot].state, RETIRING);
  atomic_fetch_add(&table_gen, 1);
  wait_for_handlers();
}

void vqn_guard_retire_end(int slot) {
  atomic_store(&slots[slot].state, RETIRED);
  atomic_fetch_add(&table_gen, 1);
}

void vqn_guard_retire_cancel(int slot) {
  atomic_store(&slots[slot].state, LIVE);
  atomic_fetch_add(&table_gen, 1);
}

// -- Readers --------------------------------------------------------------------------------------

uint64_t vqn_fault_count(void) { return atomic_load(&fault_count); }

int vqn_fault_get(uint64_t seq, vqn_fault *out) {
  uint64_t count = atomic_load(&fault_count);
  if (seq == 0 || seq > count) return 0;
  if (count - seq >= VQN_FAULT_LOG) return -1;
  record_t *r = &records[(seq - 1) % VQN_FAULT_LOG];
  uint64_t before = atomic_load_explicit(&r->seq, memory_order_acquire);
  if (before != seq) return before > seq ? -1 : 0;
  out->seq = seq;
  out->mapping = atomic_load_explicit(&r->mapping, memory_order_relaxed);
  out->base = atomic_load_explicit(&r->base, memory_order_relaxed);
  out->offset = atomic_load_explicit(&r->offset, memory_order_relaxed);
  out->length = atomic_load_explicit(&r->length, memory_order_relaxed);
  out->fd_offset = atomic_load_explicit(&r->fd_offset, memory_order_relaxed);
  out->address = atomic_load_explicit(&r->address, memory_order_relaxed);
  out->fd = atomic_load_explicit(&r->fd, memory_order_relaxed);
  out->thread = atomic_load_explicit(&r->thread, memory_order_relaxed);
  out->replaced = atomic_load_explicit(&r->replaced, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  return atomic_load_explicit(&r->seq, memory_order_relaxed) == seq ? 1 : -1;
}

int vqn_fault_wake_add(int fd) {
  for (int i = 0; i < VQN_FAULT_WAKERS; i++) {
    int empty = -1;
    if (atomic_compare_exchange_strong(&wakers[i], &empty, fd)) return 0;
  }
  return ENOSPC;
}

void vqn_fault_wake_remove(int fd) {
  for (int i = 0; i < VQN_FAULT_WAKERS; i++) {
    int expected = fd;
    atomic_compare_exchange_strong(&wakers[i], &expected, -1);
  }
  wait_for_handlers();
}
