// Where a shared memory's bytes are: the base address of a SharedArrayBuffer's backing store.
//
// Node 20's Node-API has no SharedArrayBuffer functions: napi_get_arraybuffer_info() returns
// napi_invalid_arg for a SharedArrayBuffer (napi_is_arraybuffer() is false for it). A typed array
// over a SharedArrayBuffer, though, is an ordinary typed array to Node-API, and
// napi_get_typedarray_info() returns its data pointer: the backing store's address plus the view's
// byteOffset. So the TypeScript wrapper passes `new Uint8Array(memory.buffer)` (the whole buffer,
// byteOffset 0) and this file takes the base address from it. For a shared WebAssembly.Memory,
// V8 reserves the backing store with mmap, so the base is page-aligned and stays put for the
// memory's whole life (the memory never grows: initial = maximum).
#include "mapping.h"

#include <stdio.h>

bool vqn_memory_view(napi_env env, napi_value view, const char *fn, uint8_t **base, size_t *size) {
  bool is_typed = false;
  VQN_CALL(env, napi_is_typedarray(env, view, &is_typed), false);
  if (!is_typed) {
    vqn_throw_type(env, "%s: memory must be a Uint8Array over a SharedArrayBuffer", fn);
    return false;
  }
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void *data = NULL;
  napi_value buffer;
  VQN_CALL(env, napi_get_typedarray_info(env, view, &type, &length, &data, &buffer, &byte_offset), false);
  bool plain = false;  // true for an ArrayBuffer, false for a SharedArrayBuffer
  VQN_CALL(env, napi_is_arraybuffer(env, buffer, &plain), false);
  if (plain) {
    // A non-shared buffer can be detached or moved by V8; mapping pages under it is not safe.
    vqn_throw_type(env, "%s: memory is not shared (an ArrayBuffer, not a SharedArrayBuffer)", fn);
    return false;
  }
  napi_value total_v;
  double total = -1;
  VQN_CALL(env, napi_get_named_property(env, buffer, "byteLength", &total_v), false);
  VQN_CALL(env, napi_get_value_double(env, total_v, &total), false);
  if (type != napi_uint8_array || byte_offset != 0 || (double)length != total) {
    vqn_throw_type(env, "%s: memory must be a Uint8Array over the whole SharedArrayBuffer", fn);
    return false;
  }
  if (data == NULL || length == 0) {
    vqn_throw_range(env, "%s: memory is empty", fn);
    return false;
  }
  if ((uintptr_t)data % vqn_page_size() != 0) {
    // A plain `new SharedArrayBuffer(n)` comes from the C heap (malloc): not page-aligned, and
    // not ours to map pages over. A WebAssembly.Memory (or a growable SharedArrayBuffer) is.
    vqn_throw_range(env, "%s: the memory's backing store at %p is not page-aligned; use a shared WebAssembly.Memory",
                    fn, data);
    return false;
  }
  *base = data;
  *size = length;
  return true;
}

size_t vqn_page_size(void) {
  static size_t page = 0;
  if (page == 0) page = (size_t)sysconf(_SC_PAGESIZE);
  return page;
}
