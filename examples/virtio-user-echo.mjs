// Plug a Node process into a vhost-user switch and exchange frames with it, zero copy on the
// back-end's side. Try it against our own back-end, which sends every frame back:
//
//   npm run build
//   node bin/virtqueue.js vhost --socket /tmp/vu.sock --fwd io &
//   node examples/virtio-user-echo.mjs /tmp/vu.sock
import { VirtioUserPort } from '../dist/src/virtio-user/index.js';

const socket = process.argv[2] ?? '/tmp/vu.sock';
const port = await VirtioUserPort.open({ socket, layout: 'split', queues: 1 });
port.on('down', (why) => console.log(`back-end gone (${why}); waiting for it to come back`));

// A frame: broadcast destination, a locally administered source, EtherType 0x88b5, a greeting.
const frame = (i) => {
  const f = new Uint8Array(64);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  f.set(new TextEncoder().encode(`hello #${i}`), 14);
  return f;
};

for (let i = 0; i < 5; i++) await port.send(frame(i)); // waits while the ring is full

let seen = 0;
for await (const f of port.frames()) {
  console.log(`got ${f.length} bytes: ${new TextDecoder().decode(f.subarray(14, 22))}`);
  if (++seen === 5) break;
}
console.log(port.stats(0));
await port.shutdown(); // stops the rings in the back-end (GET_VRING_BASE), then disconnects
