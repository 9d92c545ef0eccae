// Runs an engine export on a worker thread, so a call that never returns (an endless loop on
// hostile input) fails the test after a deadline instead of hanging the whole run. The worker
// instantiates the same compiled module over the same shared memory, so the call sees and
// changes exactly what a call on this thread would.
import { Worker } from 'node:worker_threads';
import type { EngineExports } from '../../src/index.js';

export class BoundedCaller {
  private worker: Worker | null = null;

  constructor(private readonly module: WebAssembly.Module, private readonly limitMs = 10_000) {}

  call(memory: WebAssembly.Memory, name: keyof EngineExports, args: number[]): Promise<number> {
    const w = this.worker ??= new Worker(new URL('./bounded-call.mjs', import.meta.url), { workerData: { module: this.module } });
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
      };
      const onMessage = (m: { rc?: number; trap?: string }): void => {
        done();
        if (m.trap !== undefined) reject(new Error(`${name} trapped: ${m.trap}`));
        else resolve(m.rc as number);
      };
      const onError = (e: Error): void => {
        done();
        this.worker = null;
        reject(e);
      };
      const timer = setTimeout(() => {
        done();
        this.worker = null;
        void w.terminate();
        reject(new Error(`${name} did not return within ${this.limitMs} ms (endless loop?)`));
      }, this.limitMs);
      w.on('message', onMessage);
      w.on('error', onError);
      w.postMessage({ memory, name, args });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
