// The engine over mapped pages: a split ring and its buffers placed in a memfd mapped into the
// memory work as in ordinary memory, and the file holds the ring, so a second memory mapping the
// same file (as a vhost-user backend maps its peer's guest memory) can run the other side.
import { describe, expect, it } from 'vitest';
import { readSync, writeSync } from 'node:fs';
import {
  createSharedMemory, MemoryPlan, ChainBatch, UsedBatch, SplitDriver, SplitDevice, allocSplitRing,
  type SplitRingAddrs, type Region,
} from '../src/index.js';
import { loadEngine } from '../src/node.js';
import { memfdCreate, close, mapIntoMemory, unmapFromMemory, mappings } from '../src/native/index.js';
import { checkFdLeaks } from './helpers/fd-leaks.js';

checkFdLeaks();

const MiB = 1 << 20;
const QUEUE = 64;
const SLOT = 512; // per chain: request at +0 (up to 256 bytes), response at +256

const request = (seq: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, j) => (seq * 13 + j * 7 + 5) & 0xff);

interface Side {
  memory: WebAssembly.Memory;
  plan: MemoryPlan; // host-private state: control blocks, burst arrays
}

function side(): Side {
  const memory = createSharedMemory(8 * MiB);
  return { memory, plan: new MemoryPlan(memory, { start: 64 * 1024, end: MiB }) };
}

/**
 * Runs `rounds` bursts: the driver offers chains whose request bytes the `fill` callback writes,
 * the device echoes each request, XORed with 0x5a, into the chain's writable segment. Returns
 * the tokens that came back.
 */
function roundTrips(driver: SplitDriver, device: SplitDevice, driverSide: Side, deviceSide: Side, slots: number,
                    rounds: number, fill: (seq: number, at: number, bytes: Uint8Array) => void): number[] {
  const dEngine = driver.engine;
  const vEngine = device.engine;
  const add = new ChainBatch(dEngine, driverSide.plan, 16, 32);
  const collected = new UsedBatch(dEngine, driverSide.plan, 16);
  const popped = new ChainBatch(vEngine, deviceSide.plan, 16, 32);
  const used = new UsedBatch(vEngine, deviceSide.plan, 16);
  const back: number[] = [];
  let seq = 0;
  for (let round = 0; round < rounds; round++) {
    add.clear();
    for (let i = 0; i < 8; i++, seq++) {
      const at = slots + (seq % QUEUE) * SLOT;
      const req = request(seq, 1 + (seq % 200));
      fill(seq, at, req);
      add.begin(seq);
      add.read(at, req.length);
      add.write(at + 256, 256);
      add.end();
    }
    expect(driver.add(add)).toBe(8);
    expect(device.pop(popped)).toBe(8);
    used.clear();
    const vu8 = vEngine.u8;
    for (let i = 0; i < 8; i++) {
      const r = popped.firstSeg(i);
      const w = r + popped.nRead(i);
      const len = popped.segLen(r);
      for (let j = 0; j < len; j++) vu8[popped.segOffset(w) + j] = vu8[popped.segOffset(r) + j] ^ 0x5a;
      used.push(popped.id(i), len);
    }
    expect(device.push(used)).toBe(8);
    expect(driver.collect(collected)).toBe(8);
    const du8 = dEngine.u8;
    for (let i = 0; i < 8; i++) {
      const s = collected.id(i);
      const at = slots + (s % QUEUE) * SLOT;
      const req = request(s, 1 + (s % 200));
      expect(collected.len(i)).toBe(req.length);
      expect(du8.subarray(at + 256, at + 256 + req.length)).toEqual(req.map((b) => b ^ 0x5a));
      back.push(s);
    }
  }
  return back;
}

const u16At = (fd: number, at: number): number => {
  const b = Buffer.alloc(2);
  expect(readSync(fd, b, 0, 2, at)).toBe(2);
  return b.readUInt16LE(0);
};

describe('the engine over a mapped memfd', () => {
  it('runs a split ring placed in the mapped pages; the file holds the ring and the buffers', () => {
    const host = side();
    const engine = loadEngine(host.memory);
    const REGION = 2 * MiB;
    const SIZE = MiB;
    const fd = memfdCreate('guest-memory', SIZE);
    mapIntoMemory(host.memory, REGION, fd, 0, SIZE);
    try {
      const guest = new MemoryPlan(host.memory, { start: REGION, end: REGION + SIZE });
      const ring = allocSplitRing(guest, QUEUE);
      const slots = guest.alloc(QUEUE * SLOT, 4096, 'buffers');
      expect(ring.desc).toBeGreaterThanOrEqual(REGION);
      expect(slots + QUEUE * SLOT).toBeLessThanOrEqual(REGION + SIZE);
      const driver = new SplitDriver(engine, host.plan, ring);
      const device = new SplitDevice(engine, host.plan, ring);
      // Requests are written into the file (as the peer owning guest memory would); the device
      // reads them through the mapping.
      const back = roundTrips(driver, device, host, host, slots, 40, (_, at, bytes) => {
        expect(writeSync(fd, bytes, 0, bytes.length, at - REGION)).toBe(bytes.length);
      });
      expect(back).toEqual(Array.from({ length: 320 }, (_, i) => i));
      // The indices the engine published are in the file.
      expect(u16At(fd, ring.avail - REGION + 2)).toBe(320); // avail.idx
      expect(u16At(fd, ring.used - REGION + 2)).toBe(320); // used.idx
      expect([driver.inFlight, driver.broken, device.broken]).toEqual([0, false, false]);
    } finally {
      unmapFromMemory(host.memory, REGION, SIZE);
      close(fd);
    }
  });

  it('a second memory mapping the same file at another offset runs the device side', () => {
    const driverSide = side();
    const deviceSide = side();
    const SIZE = MiB;
    const [AT_DRIVER, AT_DEVICE] = [4 * MiB, 2 * MiB]; // different offsets in the two memories
    const fd = memfdCreate('shared-guest-memory', SIZE);
    mapIntoMemory(driverSide.memory, AT_DRIVER, fd, 0, SIZE);
    mapIntoMemory(deviceSide.memory, AT_DEVICE, fd, 0, SIZE);
    try {
      const guest = new MemoryPlan(driverSide.memory, { start: AT_DRIVER, end: AT_DRIVER + SIZE });
      const ring = allocSplitRing(guest, QUEUE);
      const slots = guest.alloc(QUEUE * SLOT, 4096, 'buffers');
      const moved = (a: number): number => a - AT_DRIVER + AT_DEVICE;
      // The device finds the ring at its own offsets, and translates the driver's buffer
      // addresses (its Wasm offsets, used as guest addresses) through one region.
      const deviceRing: SplitRingAddrs = {
        ...ring, desc: moved(ring.desc), avail: moved(ring.avail), used: moved(ring.used),
        driver: moved(ring.driver), device: moved(ring.device),
      };
      const regions: Region[] = [{ gpa: BigInt(AT_DRIVER), size: BigInt(SIZE), offset: AT_DEVICE }];
      const driver = new SplitDriver(loadEngine(driverSide.memory), driverSide.plan, ring);
      const device = new SplitDevice(loadEngine(deviceSide.memory), deviceSide.plan, deviceRing, { regions });
      const du8 = new Uint8Array(driverSide.memory.buffer);
      const back = roundTrips(driver, device, driverSide, deviceSide, slots, 40, (_, at, bytes) => du8.set(bytes, at));
      expect(back).toHaveLength(320);
      expect(new Set(back).size).toBe(320);
      expect([driver.broken, device.broken, driver.inFlight]).toEqual([false, false, 0]);
    } finally {
      unmapFromMemory(deviceSide.memory, AT_DEVICE, SIZE);
      unmapFromMemory(driverSide.memory, AT_DRIVER, SIZE);
      close(fd);
    }
  });

  it('after unmapping, the same pages hold a new ring that works (the memory stays usable)', () => {
    const host = side();
    const engine = loadEngine(host.memory);
    const REGION = 2 * MiB;
    const SIZE = MiB;
    const fd = memfdCreate('guest-memory', SIZE);
    mapIntoMemory(host.memory, REGION, fd, 0, SIZE);
    const first = new MemoryPlan(host.memory, { start: REGION, end: REGION + SIZE });
    const ring = allocSplitRing(first, QUEUE);
    const slots = first.alloc(QUEUE * SLOT, 4096, 'buffers');
    const du8 = new Uint8Array(host.memory.buffer);
    roundTrips(new SplitDriver(engine, host.plan, ring), new SplitDevice(engine, host.plan, ring), host, host, slots, 5,
      (_, at, bytes) => du8.set(bytes, at));
    unmapFromMemory(host.memory, REGION, SIZE);
    close(fd);
    expect(mappings(host.memory)).toEqual([]);
    expect(du8.subarray(REGION, REGION + SIZE).every((b) => b === 0)).toBe(true); // the old ring is gone

    const again = new MemoryPlan(host.memory, { start: REGION, end: REGION + SIZE });
    const ring2 = allocSplitRing(again, QUEUE);
    expect(ring2.desc).toBe(ring.desc); // the very same pages
    const slots2 = again.alloc(QUEUE * SLOT, 4096, 'buffers');
    const back = roundTrips(new SplitDriver(engine, host.plan, ring2), new SplitDevice(engine, host.plan, ring2), host, host,
      slots2, 10, (_, at, bytes) => du8.set(bytes, at));
    expect(back).toHaveLength(80);
  });
});
