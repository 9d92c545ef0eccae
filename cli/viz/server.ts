// The visualizer's web server: the page (web/), the compiled modules it imports (dist/) and the
// engine (build/virtqueue.wasm), from the package itself (no CDN: it works offline), on the
// loopback interface only. Every response carries the cross-origin isolation headers
// (COOP same-origin, COEP require-corp), without which a browser gives the page no
// SharedArrayBuffer and so no shared WebAssembly.Memory for the engine.
//
// Other routes (the live stream of `sim --viz` and `vhost --viz`) plug in through `routes`: a
// handler that answers the requests it knows and returns true.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, resolve, sep } from 'node:path';

/** The package root, from cli/viz/ (vitest) or dist/cli/viz/ (compiled). */
export function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  return resolve(fileURLToPath(new URL(here.includes(`${sep}dist${sep}`) ? '../../../' : '../../', import.meta.url)));
}

/** URL prefixes and the folders they serve (relative to the package root); nothing else is served. */
const MOUNTS: readonly (readonly [prefix: string, dir: string])[] = [
  ['/web/', 'web'],
  ['/dist/src/', 'dist/src'],
  ['/dist/sim/', 'dist/sim'],
  ['/dist/assembly/', 'dist/assembly'],
  ['/dist/web/', 'dist/web'],
  ['/build/', 'build'],
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Headers every response carries: cross-origin isolation, and nothing cached (a rebuilt engine shows at once). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

export interface VizServerOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Extra routes, tried before the files. */
  routes?: RouteHandler;
  /** Where the package is (default: this file's package). */
  root?: string;
}

export interface VizServer {
  readonly server: Server;
  readonly port: number;
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  close(): Promise<void>;
}

/** The file a request path names, or undefined when it is not under a mount (or tries to leave it). */
export function fileFor(root: string, path: string): string | undefined {
  if (path === '/' || path === '/index.html') return resolve(root, 'web/index.html');
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    const base = resolve(root, dir);
    const file = resolve(base, `.${path.slice(prefix.length - 1)}`);
    return file.startsWith(base + sep) && TYPES[extname(file)] ? file : undefined;
  }
  return undefined;
}

/** Only names of this machine's loopback may reach the page (a DNS-rebinding page cannot). */
const LOCAL_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
  res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

async function handle(root: string, routes: RouteHandler | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!LOCAL_HOST.test(req.headers.host ?? '')) return send(res, 403, 'text/plain', 'the visualizer answers only to 127.0.0.1 and localhost\n');
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (routes?.(req, res, url)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', `${req.method} is not served\n`);
  const file = fileFor(root, decodeURIComponent(url.pathname));
  if (!file) return send(res, 404, 'text/plain', `${url.pathname}: not part of the visualizer\n`);
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    const hint = file.includes(`${sep}dist${sep}`) || file.endsWith('.wasm') ? ' (run `npm run build`)' : '';
    return send(res, 404, 'text/plain', `${url.pathname}: not found${hint}\n`);
  }
  send(res, 200, TYPES[extname(file)], body, req.method === 'HEAD');
}

/** Serves the visualizer on 127.0.0.1:port. */
export function startVizServer(opts: VizServerOptions): Promise<VizServer> {
  const root = opts.root ?? packageRoot();
  const server = createServer((req, res) => {
    handle(root, opts.routes, req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `${e instanceof Error ? e.message : String(e)}\n`);
      else res.destroy();
    });
  });
  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      resolveStart({
        server, port, url: `http://127.0.0.1:${port}/`,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}
