// A worker thread that shares a memory and reads or writes bytes of it on request: the other
// thread in the native mapping tests. It has no views of its own beyond the memory's buffer, so
// what it sees is what every thread sharing the memory sees.
import { parentPort, workerData } from 'node:worker_threads';

const u8 = new Uint8Array(workerData.memory.buffer);
parentPort.on('message', (m) => {
  if (m.op === 'read') parentPort.postMessage(Array.from(u8.subarray(m.at, m.at + m.length)));
  else if (m.op === 'write') {
    u8.set(m.bytes, m.at);
    parentPort.postMessage('written');
  } else if (m.op === 'stop') parentPort.close();
});
parentPort.postMessage('ready');
