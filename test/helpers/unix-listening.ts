// Whether a Unix socket at a path is listening yet, read from /proc/net/unix without connecting
// (a probe connection would be a session of its own). The socket file appears at bind(), before
// listen(), so its existence is not enough: a connect in between is refused.
import { readFileSync } from 'node:fs';

/** __SO_ACCEPTCON in /proc/net/unix's Flags column: the socket listens. */
const SO_ACCEPTCON = 0x10000;

export function isListening(path: string): boolean {
  // Num RefCount Protocol Flags Type St Inode Path
  return readFileSync('/proc/net/unix', 'utf8').split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[7] === path && (parseInt(f[3], 16) & SO_ACCEPTCON) !== 0;
  });
}
