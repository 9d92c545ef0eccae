// A worker thread with its own instance of the native bridge: signals eventfds, maps and
// unmaps, and watches fds on request, then can end without cleaning up (process.exit), so the
// tests see what the bridge does when a thread goes away.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const native = createRequire(import.meta.url)(workerData.addon);
const watchers = [];

const ops = {
  signal: ({ fd, value, delayMs }) => new Promise((resolve) => setTimeout(() => resolve(native.eventfdWrite(fd, value)), delayMs)),
  map: ({ memory, offset, fd, length }) => native.mapIntoMemory(new Uint8Array(memory.buffer), offset, fd, 0, length),
  unmap: ({ memory, offset, length }) => native.unmapFromMemory(new Uint8Array(memory.buffer), offset, length),
  mappings: () => native.mappings(),
  watch: ({ fd }) => {
    const p = new native.Poll(fd, () => parentPort.postMessage({ event: 'readable', fd }));
    p.start(native.POLL_READABLE);
    watchers.push(p);
  },
  exit: () => process.exit(0),
};

parentPort.on('message', async (m) => {
  try {
    parentPort.postMessage({ ok: true, value: await ops[m.op](m) });
  } catch (e) {
    parentPort.postMessage({ ok: false, message: e.message, code: e.code });
  }
});
parentPort.postMessage({ ok: true, value: 'ready' });
