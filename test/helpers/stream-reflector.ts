// The host end of QEMU's `-netdev stream` over a unix socket: every Ethernet frame the guest's
// device sends comes here (each framed by a 4-byte big-endian length, as QEMU's stream and
// socket netdevs frame them) and goes back with its destination and source MACs swapped. It is
// independent of this project's code, so a VFIO driver test against it checks the driver alone.
// QEMU connects to it (server=off): start it before QEMU. With `echo: false` it is a sink: it
// counts the frames and sends nothing back (bench/vfio.bench.ts measures both guest drivers here);
// `onFrame` sees each frame's length as it comes.
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export interface StreamReflector {
  /** The netdev for QEMU (without its id). */
  readonly netdev: string;
  /** Frames received, in order (a copy of each, at most `keep`). */
  readonly frames: Buffer[];
  /** How many frames came (and went back). */
  count(): number;
  /** Sends a frame to the guest as is (on the current connection); false when QEMU is not connected. */
  inject(frame: Buffer): boolean;
  /** Whether frames go back (settable at any time; false: a sink). */
  echo: boolean;
  close(): Promise<void>;
}

const MAX_FRAME = 65536 + 4;

export interface StreamReflectorOptions {
  /** Send each frame back, MACs swapped (true when omitted); false: a sink. Also StreamReflector.echo. */
  echo?: boolean;
  /** Called with each frame's length (without the 4-byte prefix) as it is read. */
  onFrame?: (length: number) => void;
}

/** Listens at `socketPath`; keeps the first `keep` frames (64 when omitted). */
export async function startStreamReflector(socketPath: string, keep = 64, o: StreamReflectorOptions = {}): Promise<StreamReflector> {
  let echo = o.echo ?? true;
  rmSync(socketPath, { force: true });
  const frames: Buffer[] = [];
  let count = 0;
  let conn: Socket | undefined;
  const frame = (b: Buffer): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(b.length);
    return Buffer.concat([h, b]);
  };
  const server: Server = createServer((s) => {
    conn?.destroy();
    conn = s;
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (len > MAX_FRAME) {
          s.destroy(new Error(`stream reflector: a frame of ${len} bytes`));
          return;
        }
        if (buf.length < 4 + len) break;
        count++;
        o.onFrame?.(len);
        if (!echo) {
          if (frames.length < keep) frames.push(Buffer.from(buf.subarray(4, 4 + len)));
          buf = buf.subarray(4 + len);
          continue;
        }
        const f = Buffer.from(buf.subarray(4, 4 + len));
        buf = buf.subarray(4 + len);
        if (frames.length < keep) frames.push(Buffer.from(f));
        if (f.length >= 12) {
          const dst = Buffer.from(f.subarray(0, 6));
          f.copy(f, 0, 6, 12);
          dst.copy(f, 6);
        }
        s.write(frame(f));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    netdev: `stream,server=off,addr.type=unix,addr.path=${socketPath}`,
    frames,
    count: () => count,
    inject: (f) => (conn && !conn.destroyed ? conn.write(frame(f)) || true : false),
    get echo() { return echo; },
    set echo(on: boolean) { echo = on; },
    close: () => new Promise<void>((resolve) => {
      conn?.destroy();
      server.close(() => resolve());
    }),
  };
}
