// `virtqueue viz` and its server (cli/viz/server.ts): prints its address, serves the page, the
// compiled modules and the engine with the cross-origin isolation headers, nothing outside its
// folders, only to loopback host names; stops on SIGTERM. `sim --replay`'s argument errors.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { fileFor, packageRoot } from '../cli/viz/server.js';
import { artifact } from './helpers/chromium.js';
import { writeFileSync } from 'node:fs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/virtqueue.js', import.meta.url));

/** GET path with a Host header of our choosing (fetch would not let us set it). */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('virtqueue viz', () => {
  it('serves the page, modules and engine isolated, nothing else, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'viz', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address printed in 15 s: ${stderr}`)), 15_000);
        let out = '';
        child.stdout.on('data', (d) => {
          out += String(d);
          const m = /^virtqueue viz: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
          if (m) { clearTimeout(timer); resolve(m[1]); }
        });
      });
      const port = Number(new URL(url).port);
      for (const [path, type] of [['/', 'text/html'], ['/web/style.css', 'text/css'], ['/dist/web/main.js', 'text/javascript'],
        ['/dist/src/engine.js', 'text/javascript'], ['/dist/sim/stepper/session.js', 'text/javascript'],
        ['/dist/assembly/layout/queue.js', 'text/javascript'], ['/build/virtqueue.wasm', 'application/wasm']] as const) {
        const r = await get(port, path);
        expect(r.status, path).toBe(200);
        expect(String(r.headers['content-type']), path).toContain(type);
        expect(r.headers['cross-origin-opener-policy'], path).toBe('same-origin');
        expect(r.headers['cross-origin-embedder-policy'], path).toBe('require-corp');
        expect(r.body.length, path).toBeGreaterThan(100);
      }
      expect((await get(port, '/')).body.toString()).toContain('/dist/web/main.js');
      for (const path of ['/package.json', '/dist/cli/main.js', '/web/../package.json', '/web/%2e%2e/package.json', '/dist/src/../../package.json', '/build/config.gypi', '/web/nothing.js']) {
        const r = await get(port, path);
        expect(r.status, path).toBe(404);
        expect(r.headers['cross-origin-embedder-policy'], path).toBe('require-corp');
      }
      // A page on another name (DNS rebinding to 127.0.0.1) gets nothing.
      expect((await get(port, '/', `evil.example:${port}`)).status).toBe(403);
      expect((await get(port, '/', `localhost:${port}`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain('stopped (SIGTERM)');
  });

  it('maps paths under its mounts only', () => {
    const r = packageRoot();
    expect(fileFor(r, '/')).toBe(`${r}/web/index.html`);
    expect(fileFor(r, '/dist/web/main.js')).toBe(`${r}/dist/web/main.js`);
    expect(fileFor(r, '/web/../../etc/passwd')).toBeUndefined();
    expect(fileFor(r, '/dist/src/node.ts')).toBeUndefined(); // not a served type
    expect(fileFor(r, '/dist/cli/viz/server.js')).toBeUndefined();
  });

  it.each([
    [['viz', '--port', '70000'], /--port must be 0 to 65535/],
    [['viz', '--bogus'], /unknown option '--bogus'/],
    [['sim', '--replay', '/nonexistent/trace.json'], /--replay \/nonexistent\/trace.json: .*ENOENT/],
    [['sim', '--replay', 'x.json', '--packets', '5'], /--packets cannot go with it/],
  ])('virtqueue %j: exit 2, %s', (args, why) => {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(why);
  });

  it('sim --replay names what is wrong in a file that is not a trace', () => {
    const file = artifact('bad-version.json');
    writeFileSync(file, JSON.stringify({ format: 'virtqueue-trace', version: 9 }));
    const r = spawnSync(process.execPath, [bin, 'sim', '--replay', file], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('not a valid trace: version 9 is not supported');
  });

  it('help', () => {
    const r = spawnSync(process.execPath, [bin, 'viz', '--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: virtqueue viz [--port N]');
    expect(spawnSync(process.execPath, [bin, '--help'], { cwd: root, encoding: 'utf8' }).stdout).toContain('viz ');
  });
});
