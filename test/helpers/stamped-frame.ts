// Test frames that carry who sent them: frame `seq` of queue pair `q`, checked byte for byte
// after a trip through a back-end (our own or DPDK's).

/** Frame `seq` of queue `q`: MACs, type 0x88b5, then (q, seq) stamped and a pattern of them. */
export function stamped(q: number, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5, q, seq & 0xff, (seq >> 8) & 0xff, (seq >> 16) & 0xff]);
  for (let i = 18; i < len; i++) f[i] = (i * 31 + seq * 7 + q) & 0xff;
  return f;
}
