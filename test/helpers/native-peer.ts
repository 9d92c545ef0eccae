// The main thread's side of native-peer-worker.mjs: another thread using the native bridge.
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { nativeAddonPath } from '../../src/native/index.js';

const LIMIT_MS = 10_000;

export interface PeerReply {
  ok: boolean;
  value?: unknown;
  message?: string;
  code?: string;
  event?: string;
}

export class NativePeer {
  readonly exited: Promise<number>;
  private readonly replies: PeerReply[] = [];
  private waiting: ((r: PeerReply) => void) | null = null;
  /** Events the worker reported on its own (e.g. a watched fd became readable). */
  readonly events: PeerReply[] = [];

  private constructor(readonly worker: Worker) {
    this.exited = once(worker, 'exit').then(([code]) => code as number);
    worker.on('message', (m: PeerReply) => {
      if (m.event) this.events.push(m);
      else if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(m);
      } else this.replies.push(m);
    });
  }

  static async start(): Promise<NativePeer> {
    const peer = new NativePeer(new Worker(new URL('./native-peer-worker.mjs', import.meta.url), {
      workerData: { addon: nativeAddonPath() },
    }));
    await peer.next();
    return peer;
  }

  /** Runs one op on the worker; resolves with its reply (errors come back as { ok: false }). */
  call(op: string, args: Record<string, unknown> = {}): Promise<PeerReply> {
    this.worker.postMessage({ op, ...args });
    return this.next();
  }

  /** Ends the worker with process.exit(0), without closing what it opened. */
  async exit(): Promise<number> {
    this.worker.postMessage({ op: 'exit' });
    return this.bounded(this.exited, 'exit');
  }

  private next(): Promise<PeerReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    return this.bounded(new Promise<PeerReply>((resolve) => { this.waiting = resolve; }), 'reply');
  }

  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`native peer: no ${what} within ${LIMIT_MS} ms`)), LIMIT_MS);
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  }
}
