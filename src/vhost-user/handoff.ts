// Handing a vring from the control plane (the thread that reads vhost-user messages) to the
// Dataplane worker that serves it, and taking it back. This plays the role of DPDK's
// per-virtqueue access lock: before the control plane answers GET_VRING_BASE, changes the
// memory table, closes a call eventfd or ends a session, the worker has acknowledged that it
// applied the change, so it no longer touches what was taken away. Browser-safe (Atomics only).
//
// One record per vring, one cache line, in shared memory:
//
//   0   gen        i32  the control plane adds 1 after every change of the fields below
//   4   ack        i32  the last gen the worker applied
//   8   cb         u32  device control block of the running ring; 0: stopped, hands off
//   12  callFd     i32  eventfd to signal used buffers on; -1: none (the front-end polls)
//   16  hdrSize    u32  virtio_net_hdr bytes for this session (12 or 10)
//   20  flags      u32  HANDOFF_F_*
//   24  announce   u32  bumped for each SEND_RARP (receive queues): send a RARP for `mac`
//   28  mac        6 bytes
//   36  fault      i32  the worker's last engine error on this vring (0: none); the control plane reports it
//   40  missIova   u64  the IOVA of the worker's last IOTLB miss on this vring (CB_OPT_IOTLB rings)
//   48  missSeq    i32  the worker adds 1 after writing missIova (the control plane waits on it)
//   52 .. 63       reserved
//
// Ordering: the control plane writes the fields, then [R1] Atomics.add(gen) (release); the
// worker [A1] Atomics.load(gen) (acquire) before it reads them. The worker applies the change,
// then [R2] Atomics.store(ack) (release); the control plane [A2] Atomics.load(ack) (acquire)
// before it reuses anything the change took away.
export const HANDOFF_SIZE = 64;
export const HANDOFF_GEN = 0;
export const HANDOFF_ACK = 4;
export const HANDOFF_CB = 8;
export const HANDOFF_CALL_FD = 12;
export const HANDOFF_HDR_SIZE = 16;
export const HANDOFF_FLAGS = 20;
export const HANDOFF_ANNOUNCE = 24;
export const HANDOFF_MAC = 28;
export const HANDOFF_FAULT = 36;
export const HANDOFF_MISS_IOVA = 40;
export const HANDOFF_MISS_SEQ = 48;
/** MRG_RXBUF was negotiated. */
export const HANDOFF_F_MRG_RXBUF = 1;

export interface VringState {
  cb: number;
  callFd: number | undefined;
  hdrSize: number;
  mergeable: boolean;
}

/** A ring nobody runs. */
export const STOPPED: VringState = Object.freeze({ cb: 0, callFd: undefined, hdrSize: 12, mergeable: false });

/** Why a handoff could not complete: the worker did not acknowledge in time. */
export class HandoffTimeout extends Error {
  constructor(readonly index: number, readonly ms: number) {
    super(`vring ${index}: the dataplane worker did not let go of the ring within ${ms} ms`);
    this.name = 'HandoffTimeout';
  }
}

/** The control plane's side of one vring's record. */
export class HandoffWriter {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private last: VringState = STOPPED;

  /**
   * `wake` rings the serving worker's doorbell (it may be asleep); `alive` says whether a worker
   * is there to acknowledge at all (after a worker died, nobody touches the ring).
   */
  constructor(memory: WebAssembly.Memory, readonly addr: number, readonly index: number,
              private readonly wake: () => void, private readonly alive: () => boolean, private readonly timeoutMs = 2000) {
    this.i32 = new Int32Array(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
  }

  /** Zeroes the record (no worker may be running it). */
  clear(): void {
    this.u8.fill(0, this.addr, this.addr + HANDOFF_SIZE);
    this.i32[(this.addr + HANDOFF_CALL_FD) >>> 2] = -1;
    // A stopped ring's header size, as set() writes it: a change published before the ring is
    // first handed over (a SEND_RARP) must not configure the worker with 0.
    this.i32[(this.addr + HANDOFF_HDR_SIZE) >>> 2] = STOPPED.hdrSize;
    this.last = STOPPED;
  }

  /** The state handed over last (the control plane is the record's only writer). */
  get state(): VringState {
    return this.last;
  }

  /** Hands the ring over (cb != 0), changes it, or takes it back (cb = 0); returns once the worker applied it. */
  set(s: VringState): void {
    this.last = { ...s };
    const w = (f: number, v: number): void => { this.i32[(this.addr + f) >>> 2] = v; };
    w(HANDOFF_CB, s.cb);
    w(HANDOFF_CALL_FD, s.callFd ?? -1);
    w(HANDOFF_HDR_SIZE, s.hdrSize);
    w(HANDOFF_FLAGS, s.mergeable ? HANDOFF_F_MRG_RXBUF : 0);
    this.publish();
  }

  /** Asks the worker to broadcast a RARP for `mac` on this (receive) ring. */
  announce(mac: Uint8Array): void {
    this.u8.set(mac.subarray(0, 6), this.addr + HANDOFF_MAC);
    this.i32[(this.addr + HANDOFF_ANNOUNCE) >>> 2]++;
    this.publish();
  }

  /** The worker's last engine error on this ring (0: none), taking it. */
  takeFault(): number {
    return Atomics.exchange(this.i32, (this.addr + HANDOFF_FAULT) >>> 2, 0);
  }

  /**
   * Resolves with the IOVA of the worker's next IOTLB miss on this ring (after `seen`, the
   * missSeq last handled), or with undefined after `timeoutMs` without one.
   */
  async nextMiss(seen: number, timeoutMs: number): Promise<{ seq: number; iova: bigint } | undefined> {
    const at = (this.addr + HANDOFF_MISS_SEQ) >>> 2;
    // Atomics.waitAsync (ES2024; Node 16+, every current browser): not in this project's lib.
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    const w = waitAsync(this.i32, at, seen, timeoutMs);
    if (w.async) await w.value;
    const seq = Atomics.load(this.i32, at); // [A3] pairs with the worker's [R3]
    if (seq === seen) return undefined;
    const lo = BigInt(this.i32[(this.addr + HANDOFF_MISS_IOVA) >>> 2] >>> 0);
    const hi = BigInt(this.i32[(this.addr + HANDOFF_MISS_IOVA + 4) >>> 2] >>> 0);
    return { seq, iova: (hi << 32n) | lo };
  }

  /** missSeq now (what nextMiss waits to change). */
  get missSeq(): number {
    return Atomics.load(this.i32, (this.addr + HANDOFF_MISS_SEQ) >>> 2);
  }

  private publish(): void {
    const genAt = (this.addr + HANDOFF_GEN) >>> 2;
    const ackAt = (this.addr + HANDOFF_ACK) >>> 2;
    // [R1] release the fields written above; pairs with the worker's [A1].
    const gen = Atomics.add(this.i32, genAt, 1) + 1;
    if (!this.alive()) return;
    this.wake();
    const deadline = performance.now() + this.timeoutMs;
    // [A2] acquire the worker's ack; pairs with its [R2].
    for (let ack = Atomics.load(this.i32, ackAt); ack !== gen; ack = Atomics.load(this.i32, ackAt)) {
      const left = deadline - performance.now();
      if (left <= 0 || !this.alive()) {
        if (!this.alive()) return;
        throw new HandoffTimeout(this.index, this.timeoutMs);
      }
      Atomics.wait(this.i32, ackAt, ack, Math.min(left, 50));
    }
  }
}

type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };

/** Calls of HandoffReader.changed between two Atomics loads of gen (plain reads in between). */
const GEN_CHECK_EVERY = 64;

/** The worker's side of one vring's record. */
export class HandoffReader {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private seen = 0;
  private seenAnnounce = 0;
  private reads = 0;
  /** The state applied last. */
  cb = 0;
  callFd = -1;
  hdrSize = 12;
  mergeable = false;

  constructor(memory: WebAssembly.Memory, readonly addr: number) {
    this.i32 = new Int32Array(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
    this.seenAnnounce = this.i32[(addr + HANDOFF_ANNOUNCE) >>> 2];
  }

  /**
   * Whether the control plane changed something since the last apply(). The worker asks every
   * poll, so this is a plain read of gen with an Atomics load every GEN_CHECK_EVERY calls (a
   * change is seen within that many polls at worst); apply() consumes the change ([A1]).
   */
  get changed(): boolean {
    const at = (this.addr + HANDOFF_GEN) >>> 2;
    if (++this.reads < GEN_CHECK_EVERY) return this.i32[at] !== this.seen;
    this.reads = 0;
    return this.changedNow();
  }

  /** changed, with an Atomics load (before the worker sleeps: a change must not wait for a wake-up). */
  changedNow(): boolean {
    return Atomics.load(this.i32, (this.addr + HANDOFF_GEN) >>> 2) !== this.seen;
  }

  /**
   * Reads the new state into this reader; `use` applies it (attach, detach); then acknowledges.
   * Returns the MAC to announce when a SEND_RARP came since the last time.
   */
  apply(use: (r: HandoffReader) => void): Uint8Array | undefined {
    const gen = Atomics.load(this.i32, (this.addr + HANDOFF_GEN) >>> 2); // [A1]
    const r = (f: number): number => this.i32[(this.addr + f) >>> 2];
    this.cb = r(HANDOFF_CB) >>> 0;
    this.callFd = r(HANDOFF_CALL_FD);
    this.hdrSize = r(HANDOFF_HDR_SIZE);
    this.mergeable = (r(HANDOFF_FLAGS) & HANDOFF_F_MRG_RXBUF) !== 0;
    const announce = r(HANDOFF_ANNOUNCE);
    let mac: Uint8Array | undefined;
    if (announce !== this.seenAnnounce) {
      this.seenAnnounce = announce;
      mac = this.u8.slice(this.addr + HANDOFF_MAC, this.addr + HANDOFF_MAC + 6);
    }
    use(this);
    this.lastMiss = undefined;
    this.seen = gen;
    const ackAt = (this.addr + HANDOFF_ACK) >>> 2;
    // [R2] release: nothing of the old state is touched after this; pairs with the control plane's [A2].
    Atomics.store(this.i32, ackAt, gen);
    Atomics.notify(this.i32, ackAt);
    return mac;
  }

  /** Records an engine error on this ring for the control plane to report. */
  fault(code: number): void {
    Atomics.store(this.i32, (this.addr + HANDOFF_FAULT) >>> 2, code);
  }

  /** The IOVA last reported missing since the ring was handed over (reported once). */
  private lastMiss: bigint | undefined;

  /** Records an IOTLB miss at `iova` for the control plane (once per IOVA until the ring is handed over anew). */
  miss(iova: bigint): void {
    if (this.lastMiss === iova) return;
    this.lastMiss = iova;
    this.i32[(this.addr + HANDOFF_MISS_IOVA) >>> 2] = Number(iova & 0xffffffffn) | 0;
    this.i32[(this.addr + HANDOFF_MISS_IOVA + 4) >>> 2] = Number(iova >> 32n) | 0;
    const at = (this.addr + HANDOFF_MISS_SEQ) >>> 2;
    Atomics.add(this.i32, at, 1); // [R3] release missIova
    Atomics.notify(this.i32, at);
  }
}
