// The chains in flight of one queue as the snapshot reader finds them, and who owns each
// descriptor: shared by the split and packed readers (snapshot.ts has the meanings).
import type { ChainInFlight, ChainStage, Owner, QueueCounters } from './snapshot.js';

export class ChainBook {
  readonly owner: Owner[];
  /** The chain each descriptor (split index, packed slot) is part of, or null. */
  readonly chainOf: (number | null)[];
  private readonly chains = new Map<number, ChainInFlight>();

  /** `known`: the driver's block is here, so what no chain holds is free (else it is the driver's). */
  constructor(readonly queueSize: number, known: boolean) {
    this.owner = new Array<Owner>(queueSize).fill(known ? 'free' : 'driver');
    this.chainOf = new Array<number | null>(queueSize).fill(null);
  }

  has(head: number): boolean {
    return this.chains.has(head);
  }

  /** Records a chain (the first place a racing read finds it wins); false when it was already placed. */
  place(head: number, stage: ChainStage, slot: number | null = null, descriptors: number | null = null, indirect = false): boolean {
    if (this.chains.has(head)) return false;
    this.chains.set(head, { head, stage, descriptors, indirect, slot });
    return true;
  }

  get(head: number): ChainInFlight | undefined {
    return this.chains.get(head);
  }

  /** Marks descriptor (or slot) `at` as the head of `chain`'s buffer, owned as its stage says. */
  markHead(at: number, chain: number, stage: ChainStage): void {
    this.owner[at] = stage === 'available' || stage === 'device' ? 'device' : 'driver';
    this.chainOf[at] = chain;
  }

  markMember(at: number, chain: number): void {
    this.owner[at] = 'chain';
    this.chainOf[at] = chain;
  }

  list(): ChainInFlight[] {
    return [...this.chains.values()].sort((a, b) => a.head - b.head);
  }

  counters(free: number | null): QueueCounters {
    const c: QueueCounters = { available: 0, device: 0, used: 0, inFlight: 0, free };
    for (const ch of this.chains.values()) c[ch.stage]++;
    return c;
  }
}

/** How many entries of `total` to list. */
export const listed = (total: number, max: number | undefined): number => Math.min(total, max ?? total);
