// `node bin/virtqueue.js ... --viz PORT` as a user runs it: its output collected, the address it
// prints (`viz: http://127.0.0.1:PORT/?live`) awaited, its exit awaited (bounded).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { within } from './within.js';
import { virtqueueBin } from './testpmd.js';

// From test/helpers/ (vitest) or dist/test/helpers/ (a bench).
const bin = virtqueueBin();
const root = path.dirname(path.dirname(bin));

export interface VizDone { status: number | null; signal: string | null; stdout: string; stderr: string }

export interface VizCli {
  child: ChildProcess;
  done: Promise<VizDone>;
  /** The server's base address (http://127.0.0.1:PORT/), once printed. */
  url: Promise<string>;
}

/** `niceness`: run it under `nice -n NICENESS` (a bench's load that gives way to others on the machine). */
export function startVizCli(args: string[], exitWithinMs = 60_000, niceness?: number): VizCli {
  const argv = [process.execPath, bin, ...args];
  if (niceness !== undefined) argv.unshift('nice', '-n', String(niceness));
  const child = spawn(argv[0], argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let gotUrl: (u: string) => void = () => undefined;
  const url = within<string>(20_000, `virtqueue ${args[0]} printing its viz address`, (r) => { gotUrl = r; });
  url.catch(() => undefined); // a command refused before it serves never prints one
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    const m = /^viz: (http:\/\/127\.0\.0\.1:\d+\/)\?live$/m.exec(stdout);
    if (m) gotUrl(m[1]);
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const done = within<VizDone>(exitWithinMs, `virtqueue ${args.join(' ')} exiting`, (resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done, url };
}

export const lastLine = (s: string): string => s.trimEnd().split('\n').at(-1) ?? '';
