// The virtio-user port's data path (layout/virtio-user.ts): the driver side of one virtio-net
// queue pair over mempool buffers, a whole burst per call. The host decides per burst (whether
// to kick, what to do with an error); every frame's work is in Wasm. Either ring layout, chosen
// by each control block's kind (rings.ts). Errors come from the driver (a used entry the device
// got wrong breaks the queue: ids not in flight, lengths past the buffer) or the mempool; the
// block's failedCb says whose detail to read (block.ts).
//
//   rx.ts       vuqRxBurst: used receive buffers into frames (mergeable chains), then refill
//   refill.ts   vuqRefill: the receive ring kept full of pool buffers
//   tx.ts       vuqTxReap, vuqTxBurst: used transmit chains freed, frames added as chains
//   free.ts     vuqFree, vuqDropPending: frames back to the pool, every buffer of each
//   forward.ts  vuqTxOnly, vuqForward, vuqAllocFill, vuqMacSwap: a forwarding mode's burst in one call
//   segments.ts a frame's buffer chain (segment records); rings.ts, block.ts: shared by all
export { vuqRxBurst } from "./rx";
export { vuqRefill } from "./refill";
export { vuqTxReap, vuqTxBurst } from "./tx";
export { vuqFree, vuqDropPending } from "./free";
export { vuqAllocFill, vuqMacSwap, vuqTxOnly, vuqForward } from "./forward";
