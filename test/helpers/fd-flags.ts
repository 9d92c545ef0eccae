// File status flags of an open fd, from /proc/self/fdinfo (octal "flags:" line).
import { readFileSync } from 'node:fs';

export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`no flags line for fd ${fd}`);
  return parseInt(m[1], 8);
}
