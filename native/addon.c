// The native bridge: what Node cannot do for vhost-user (memfd, mapping a file over pages of a
// shared WebAssembly.Memory, eventfd, fd passing over Unix sockets, event-loop watchers on raw
// fds, VFIO devices). Each source file registers its own functions; src/native/ wraps them in TypeScript.
#include "common.h"
#include "vfio.h"

NAPI_MODULE_INIT() {
  if (!vqn_init_fd(env, exports) || !vqn_init_mapping(env, exports) || !vqn_init_eventfd(env, exports) ||
      !vqn_init_poll(env, exports) || !vqn_init_unix(env, exports) || !vqn_init_unix_msg(env, exports) ||
      !vqn_init_memory_faults(env, exports) || !vqn_init_vfio(env, exports) || !vqn_init_vfio_dma(env, exports) ||
      !vqn_init_vfio_mmio(env, exports)) {
    return NULL;
  }
  return exports;
}
