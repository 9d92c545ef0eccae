// `virtqueue virtio-user` in a process of its own (bin/virtqueue.js), for tests against DPDK
// testpmd and our own back-end: started with the given flags and --json, stopped with SIGINT
// (SIGKILL after a bound), its summary parsed from the last stdout line.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { virtqueueBin } from './testpmd.js';
import type { VirtioUserSummary } from '../../cli/virtio-user/format.js';

/** The CLI's --json summary (its type is the CLI's own). */
export type VirtioUserResult = VirtioUserSummary;

export interface VirtioUserCli {
  readonly pid: number;
  /** stderr and stdout so far. */
  output(): string;
  /** SIGINT, SIGKILL after `ms`; resolves with the summary (rejects with the output when there is none). */
  stop(ms?: number): Promise<VirtioUserResult>;
}

/** CPU seconds (user + system) a process has used so far, from /proc (undefined once it is gone). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

/** Starts the CLI (under `taskset -c CPUS` when `cpus` is given: node is exec'd, so the pid is node's). */
export function startVirtioUser(socket: string, args: string[], cpus?: string): VirtioUserCli {
  const argv = [virtqueueBin(), 'virtio-user', '--socket', socket, '--json', ...args];
  const child = cpus === undefined
    ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('taskset', ['-c', cpus, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const output = (): string => `${stderr}\n${stdout}`;
  return {
    pid: child.pid ?? -1,
    output,
    async stop(ms = 10_000): Promise<VirtioUserResult> {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as VirtioUserResult;
      } catch {
        throw new Error(`virtqueue virtio-user exited with ${code} and no summary:\n${output()}`);
      }
    },
  };
}
