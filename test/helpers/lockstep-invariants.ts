// What must hold after every step of a lock-step world: the engine and the reference model agree
// on the ring bytes and their control state, and, by the world's books, descriptors are conserved
// and every chain in flight is accounted for. Once the peer has tampered with the rings (or the
// queue broke in a hostile run) only the agreement and the driver's books still have to hold.
import type { LockstepWorld } from './lockstep-world.js';
import type { LayoutTypes, ModelPair, RingPositions } from './lockstep-layout.js';
import { assertSameBytes, SLOT_SIZE } from './lockstep-pair.js';
import { engineDetail } from './engine-ops.js';
import { agree } from './agree.js';

export function checkStep<T extends LayoutTypes>(w: LockstepWorld<T>): void {
  const p = w.p;
  if (p.driver.broken || p.device.broken) {
    if (!w.faultsAllowed) throw new Error(`a well-behaved pair broke the queue (driver ${p.driver.status}, device ${p.device.status})`);
    w.hostile = true;
    if (p.driver.broken) w.codes.add(p.driver.status);
    if (p.device.broken) w.codes.add(p.device.status);
  }
  assertSameBytes(p, w.areas);
  const engine = w.layout.state(p, 'engine');
  const ref = w.layout.state(p, 'ref');
  agree(engine.driver, ref.driver, 'driver state: engine vs reference');
  agree(engine.device, ref.device, 'device state: engine vs reference');
  // Detail locates a fault: it means something after an error result, and stays put while the
  // queue is broken. (The engine also scribbles it during successful walks.)
  if (p.driver.broken) agree(engineDetail(p, 'driver'), p.refDriver.detail, 'broken driver: detail');
  if (p.device.broken) agree(engineDetail(p, 'device'), p.refDevice.detail, 'broken device: detail');
  // Descriptors are conserved: free ones plus those held by chains in flight make Queue Size.
  let held = 0;
  for (const o of w.outstanding.values()) held += o.descs;
  agree(p.driver.numFree + held, w.q, 'free + held descriptors == Queue Size');
  agree(p.driver.inFlight, w.outstanding.size, 'driver in flight == tokens outstanding');
  if (w.hostile) return;
  agree(p.device.inFlight, w.held.length, 'device in flight == popped, not pushed');
  const positions = w.layout.positions?.(p);
  if (positions) checkPositions(w, positions);
}

/** A ring position as a number modulo 2q: the slot, plus q in laps whose wrap counter is 0. */
const lapPosition = (pos: { slot: number; wrapCounter: number }, q: number): number => pos.slot + (pos.wrapCounter ? 0 : q);
/** How many descriptors `a` is ahead of `b` (both positions, less than 2q apart). */
const ahead = (a: number, b: number, q: number): number => (a - b + 2 * q) % (2 * q);

/**
 * 2.8.1: the four ring positions stay in order, as far apart as the books say: driver avail
 * ahead of device avail by the slots not popped yet, device avail ahead of device used by the
 * slots popped and not used, device used ahead of driver used by the slots used and not collected.
 */
function checkPositions<T extends LayoutTypes>(w: LockstepWorld<T>, at: RingPositions): void {
  const q = w.q;
  let notPopped = 0;
  let notCollected = 0;
  for (const o of w.outstanding.values()) {
    if (!o.popped) notPopped += o.descs;
    else if (o.pushedLen !== undefined) notCollected += o.descs;
  }
  const notPushed = w.held.reduce((a, c) => a + c.descs, 0);
  const [driverAvail, deviceAvail, deviceUsed, driverUsed] =
    [at.driverAvail, at.deviceAvail, at.deviceUsed, at.driverUsed].map((pos) => lapPosition(pos, q));
  agree(ahead(driverAvail, deviceAvail, q), notPopped, 'driver avail - device avail == slots not popped');
  agree(ahead(deviceAvail, deviceUsed, q), notPushed, 'device avail - device used == slots popped, not used');
  agree(ahead(deviceUsed, driverUsed, q), notCollected, 'device used - driver used == slots used, not collected');
}

/** End of a run: besides the rings, the buffer arena holds the same bytes in both memories. */
export function checkArena(p: ModelPair): void {
  const a = p.engineBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
  const b = p.refBytes.subarray(p.arena, p.arena + p.slots * SLOT_SIZE);
  agree(Buffer.compare(a, b), 0, 'buffer arena: engine vs reference');
}
