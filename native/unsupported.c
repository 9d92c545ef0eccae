// The native bridge needs Linux (memfd_create, eventfd, MAP_FIXED over a Wasm memory). Elsewhere
// the addon still builds, so installing the package works, and loading it says why it cannot.
#include <node_api.h>

NAPI_MODULE_INIT() {
  napi_throw_error(env, "ERR_NOT_SUPPORTED", "the virtqueue native bridge needs Linux (memfd, eventfd, mmap over a shared WebAssembly.Memory)");
  return NULL;
}
