// Worker side of bounded-call.ts: runs one engine export over a shared memory and reports its
// result, or the trap it raised. Plain JS so it runs without a TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';

const { module } = workerData;

parentPort.on('message', ({ memory, name, args }) => {
  try {
    const { exports } = new WebAssembly.Instance(module, { env: { memory } });
    parentPort.postMessage({ rc: exports[name](...args) });
  } catch (e) {
    parentPort.postMessage({ trap: String(e && e.stack ? e.stack : e) });
  }
});
