// Loading the Wasm engine over a shared memory. Browser-safe: the caller supplies the module
// (or its bytes); src/node.ts finds the file on disk for Node.
import { VirtqueueError } from './errors.js';
import * as Q from '../assembly/layout/queue.js';

/** The engine's exports (assembly/index.ts). Addresses are Wasm offsets; results are counts or codes. */
export interface EngineExports {
  splitDriverReset(cb: number): number;
  splitDriverAdd(cb: number, chains: number, segs: number, n: number): number;
  splitDriverKickNeeded(cb: number): number;
  splitDriverCollect(cb: number, out: number, max: number): number;
  splitDriverReap(cb: number, out: number, max: number): number;
  splitDriverEnableInterrupts(cb: number): number;
  splitDriverDisableInterrupts(cb: number): number;
  splitDriverDetach(cb: number, out: number, max: number): number;
  splitDeviceReset(cb: number): number;
  splitDeviceSetRegions(cb: number, table: number, n: number): number;
  splitDevicePop(cb: number, chains: number, segs: number, maxChains: number, maxSegs: number): number;
  splitDevicePush(cb: number, elems: number, n: number): number;
  splitDeviceInterruptNeeded(cb: number): number;
  splitDeviceEnableNotify(cb: number): number;
  splitDeviceDisableNotify(cb: number): number;
  splitDeviceUnpop(cb: number, chains: number, n: number): number;
  /** Inflight I/O tracking: recovers the region at DEV_INFLIGHT and sets the start indices (before the reset). */
  splitDeviceRecoverInflight(cb: number): number;
  packedDriverReset(cb: number): number;
  packedDriverAdd(cb: number, chains: number, segs: number, n: number): number;
  packedDriverKickNeeded(cb: number): number;
  packedDriverCollect(cb: number, out: number, max: number): number;
  packedDriverEnableInterrupts(cb: number): number;
  packedDriverDisableInterrupts(cb: number): number;
  packedDriverDetach(cb: number, out: number, max: number): number;
  packedDeviceReset(cb: number): number;
  packedDeviceSetRegions(cb: number, table: number, n: number): number;
  packedDevicePop(cb: number, chains: number, segs: number, maxChains: number, maxSegs: number): number;
  packedDevicePush(cb: number, elems: number, n: number): number;
  packedDeviceInterruptNeeded(cb: number): number;
  packedDeviceEnableNotify(cb: number): number;
  packedDeviceDisableNotify(cb: number): number;
  packedDeviceUnpop(cb: number, chains: number, n: number): number;
  /** Inflight I/O tracking: recovers the region at DEV_INFLIGHT and sets the start positions (before the reset). */
  packedDeviceRecoverInflight(cb: number): number;
  // virtio-net data path (assembly/net): a queue pair block (layout/net.ts) instead of a control block.
  netReset(q: number): number;
  netForward(q: number): number;
  netTxComplete(q: number): number;
  netInject(q: number, src: number, len: number, copies: number): number;
  /** Either layout's device Enable/DisableNotify, by the control block's kind. */
  deviceEnableNotify(cb: number): number;
  deviceDisableNotify(cb: number): number;
  /** Scatter-gather copy between two segment lists (assembly/net/scatter.ts). */
  sgCopy(dst: number, dstN: number, dstSkip: number, src: number, srcN: number, srcSkip: number, bytes: number): number;
  // virtio-user port data path (assembly/virtio-user): a queue pair block (layout/virtio-user.ts).
  vuqRefill(q: number): number;
  vuqRxBurst(q: number, out: number, max: number): number;
  vuqTxReap(q: number): number;
  vuqTxBurst(q: number, input: number, n: number): number;
  vuqAllocFill(q: number, out: number, n: number, frame: number, size: number): number;
  vuqMacSwap(arr: number, n: number): number;
  vuqFree(q: number, arr: number, n: number): number;
  vuqDropPending(q: number): number;
  vuqTxOnly(q: number, out: number, n: number, frame: number, size: number): number;
  vuqForward(q: number, arr: number, max: number, swap: number): number;
  // Dataplane (assembly/dataplane/: handle-ring/, mempool/): ring and pool headers instead of control blocks.
  ringInit(ring: number): number;
  ringCount(ring: number): number;
  ringFreeCount(ring: number): number;
  ringEnqueueBulkSp(ring: number, handles: number, n: number): number;
  ringEnqueueBulkMp(ring: number, handles: number, n: number): number;
  ringEnqueueBurstSp(ring: number, handles: number, n: number): number;
  ringEnqueueBurstMp(ring: number, handles: number, n: number): number;
  ringDequeueBulkSc(ring: number, handles: number, n: number): number;
  ringDequeueBulkMc(ring: number, handles: number, n: number): number;
  ringDequeueBurstSc(ring: number, handles: number, n: number): number;
  ringDequeueBurstMc(ring: number, handles: number, n: number): number;
  mempoolInit(pool: number): number;
  mempoolFreeCount(pool: number): number;
  mempoolGetBulk(pool: number, cache: number, handles: number, n: number): number;
  mempoolPutBulk(pool: number, cache: number, handles: number, n: number): number;
  mempoolCacheFlush(pool: number, cache: number): number;
}

/** One instance of the engine over one shared memory, with typed views of that memory. */
export class Engine {
  readonly memory: WebAssembly.Memory;
  readonly exports: EngineExports;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly view: DataView;

  private constructor(memory: WebAssembly.Memory, exports: EngineExports) {
    this.memory = memory;
    this.exports = exports;
    // The memory never grows (initial = maximum), so these views stay valid for its lifetime.
    const buf = memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.view = new DataView(buf);
  }

  /** Instantiates the engine over `memory`. Cheap: do it once per thread. */
  static async instantiate(module: WebAssembly.Module | BufferSource, memory: WebAssembly.Memory): Promise<Engine> {
    const mod = module instanceof WebAssembly.Module ? module : await WebAssembly.compile(module);
    const instance = await WebAssembly.instantiate(mod, { env: { memory } });
    return new Engine(memory, instance.exports as unknown as EngineExports);
  }

  /** Synchronous variant, for an already compiled module (worker threads, tests). */
  static instantiateSync(module: WebAssembly.Module, memory: WebAssembly.Memory): Engine {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    return new Engine(memory, instance.exports as unknown as EngineExports);
  }

  /** Throws a VirtqueueError for a negative engine result, naming `where`. */
  check(rc: number, cb: number, where: string): number {
    if (rc >= 0) return rc;
    throw new VirtqueueError(rc, this.u32[(cb + Q.CB_DETAIL) >>> 2], where);
  }
}
