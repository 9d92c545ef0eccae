// Byte copies inside the shared memory, for the data path's small ones (a frame into a buffer,
// a frame between chains).

/**
 * Copies n bytes; source and destination must not overlap. Frames are small: below 256 bytes an
 * inline loop of 8-byte moves beats memory.copy, which V8 runs as a call out of the generated
 * code on a shared memory (in a virtio-user txonly profile, that call and the memmove behind it
 * took 37% of the front-end's time for 64-byte frames).
 */
// @ts-ignore: decorator
@inline export function copyBytes(dst: u32, src: u32, n: u32): void {
  if (n >= 256) { memory.copy(dst, src, n); return; }
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) store<u64>(dst + i, load<u64>(src + i));
  if (i + 4 <= n) { store<u32>(dst + i, load<u32>(src + i)); i += 4; }
  for (; i < n; i++) store<u8>(dst + i, load<u8>(src + i));
}
