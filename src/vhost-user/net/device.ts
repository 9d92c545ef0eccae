// The virtio-net device model behind a vhost-user back-end (VIRTIO 1.2 5.1): up to `pairs`
// queue pairs (5.1.2; more than one needs NET_MQ, 5.1.5), each polled by the Poller and
// forwarding as `mode` says. It is the back-end's listener: a ring that starts is attached to its
// pair, a ring that stops (GET_VRING_BASE, disable, the front-end leaving) is dropped with the
// buffers held from it, so when a front-end goes the device is back to its reset state and the
// next connection starts clean. Counters add up over connections.
import type { Engine } from '../../engine.js';
import type { MemoryPlan } from '../../memory.js';
import type { BackendListener, ReadyRing } from '../backend.js';
import { QueuePair, zeroCounters, type FwdMode, type PairCounters } from './queue-pair.js';
import { Poller, type PollerOptions } from './poller.js';
import type { PcapWriter } from './pcap.js';

export interface NetDeviceOptions {
  engine: Engine;
  /** Private memory for the burst arrays (about 300 KiB per pair at the default burst). */
  plan: MemoryPlan;
  pairs: number;
  mode: FwdMode;
  /** Chains per burst (default 32). */
  burst?: number;
  pcap?: PcapWriter;
  poller?: PollerOptions;
  log?: (line: string) => void;
}

export class NetDevice implements BackendListener {
  readonly pairs: QueuePair[];
  readonly poller: Poller;
  private readonly log: (line: string) => void;

  constructor(opts: NetDeviceOptions) {
    this.log = opts.log ?? ((l) => console.warn(`virtio-net: ${l}`));
    const burst = opts.burst ?? 32;
    this.pairs = Array.from({ length: opts.pairs }, (_, k) => new QueuePair(opts.engine, opts.plan, k, opts.mode, burst, opts.pcap, this.log));
    this.poller = new Poller(() => this.poll(), opts.poller);
  }

  ringReady(index: number, ring: ReadyRing): void {
    const p = this.pairs[index >> 1];
    if (!p) return;
    if (index & 1) p.tx.attach(ring);
    else p.rx.attach(ring);
    this.poller.wake();
  }

  ringStopped(index: number): void {
    const p = this.pairs[index >> 1];
    if (!p) return;
    if (index & 1) p.tx.detach();
    else p.rx.detach();
  }

  kick(): void {
    this.poller.wake();
  }

  /** SEND_RARP: broadcast a RARP for `mac` on the first receive queue (5.1.2: receiveq1). */
  announce(mac: Uint8Array): void {
    this.pairs[0]?.announce(mac);
    this.poller.wake();
  }

  /** One round over every pair; returns frames handled. */
  poll(): number {
    let w = 0;
    for (const p of this.pairs) w += p.poll();
    return w;
  }

  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  /** Per-pair counters. */
  perPair(): PairCounters[] {
    return this.pairs.map((p) => p.snapshot());
  }

  totals(): PairCounters {
    const t = zeroCounters();
    for (const c of this.perPair()) for (const k of Object.keys(t) as (keyof PairCounters)[]) t[k] += c[k];
    return t;
  }
}
