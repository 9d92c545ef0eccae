// The main thread's side of memory-peer-worker.mjs: a second thread over the same memory.
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

const LIMIT_MS = 10_000;

export class MemoryPeer {
  private constructor(private readonly worker: Worker) {}

  static async start(memory: WebAssembly.Memory): Promise<MemoryPeer> {
    const worker = new Worker(new URL('./memory-peer-worker.mjs', import.meta.url), { workerData: { memory } });
    const peer = new MemoryPeer(worker);
    await peer.reply();
    return peer;
  }

  async read(at: number, length: number): Promise<number[]> {
    this.worker.postMessage({ op: 'read', at, length });
    return (await this.reply()) as number[];
  }

  async write(at: number, bytes: Uint8Array): Promise<void> {
    this.worker.postMessage({ op: 'write', at, bytes });
    await this.reply();
  }

  /** Ends the thread and waits for it to be gone. */
  async stop(): Promise<number> {
    const exited = once(this.worker, 'exit');
    this.worker.postMessage({ op: 'stop' });
    const [code] = (await bounded(exited, 'stop')) as [number];
    return code;
  }

  private async reply(): Promise<unknown> {
    const [m] = (await bounded(once(this.worker, 'message'), 'reply')) as [unknown];
    return m;
  }
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`memory peer: no ${what} within ${LIMIT_MS} ms`)), LIMIT_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
