// `virtqueue virtio-user` in a process of its own (bin/virtqueue.js), for tests against DPDK
// testpmd and our own back-end: started with the given flags and --json, stopped with SIGINT
// (SIGKILL after a bound), its summary parsed from the last stdout line.
import { spawn } from 'node:child_process';
import { virtqueueBin } from './testpmd.js';

export interface VirtioUserResult {
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_mpps: number;
  tx_mpps: number;
  dropped: number;
  errors: number;
  connections: number;
  last_error?: string;
  per_queue: { queue: number; rx_packets: number; tx_packets: number }[];
}

export interface VirtioUserCli {
  readonly pid: number;
  /** stderr and stdout so far. */
  output(): string;
  /** SIGINT, SIGKILL after `ms`; resolves with the summary (rejects with the output when there is none). */
  stop(ms?: number): Promise<VirtioUserResult>;
}

export function startVirtioUser(socket: string, args: string[]): VirtioUserCli {
  const child = spawn(process.execPath, [virtqueueBin(), 'virtio-user', '--socket', socket, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
