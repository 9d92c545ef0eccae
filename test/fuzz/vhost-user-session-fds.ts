// The file descriptors a fuzzed vhost-user front-end attaches to its messages: the kinds the
// protocol asks for (sealed memfds of a given size, eventfds non-blocking, blocking, or with a
// full counter) and the wrong ones (a memfd too small, a file that can shrink, a read-only file,
// pipes, sockets, /dev/null, /dev/zero, a directory, the connection's own socket).
//
// Fds every session can share are opened once (FdZoo.open) and stay open for the whole run, so
// they are part of the process's fd baseline; the rest are opened per session (SessionFds) and
// all closed when it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, ftruncateSync, mkdtempSync, openSync, readlinkSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFd, eventfdCreate, eventfdWrite, EFD_CLOEXEC, memfdCreate, close, UnixServer, UnixSocket } from '../../src/native/index.js';

export type FdKindName =
  | 'memfd' | 'memfd-unsealed' | 'memfd-small' | 'shm-file' | 'file-ro'
  | 'eventfd' | 'eventfd-blocking' | 'eventfd-full'
  | 'pipe' | 'socket-own' | 'socket-listening' | 'socket-peer' | 'dev-null' | 'dev-zero' | 'directory'
  /** The traffic guest's memory (a sealed memfd mapped on the test's side too). */
  | 'guest'
  /** The kick or call eventfd of a traffic ring (`index` says which vring). */
  | 'ring-kick' | 'ring-call'
  /** The buffer the last GET_INFLIGHT_FD reply brought. */
  | 'inflight-buffer';

/** An fd to attach: its kind, the size of a memory fd, the vring of a traffic ring's eventfd. */
export interface FdSpec {
  kind: FdKindName;
  size?: number;
  index?: number;
}

/** Kinds that are never an eventfd (kick, call and err must be refused). */
export const NOT_EVENTFDS: readonly FdKindName[] = [
  'memfd', 'memfd-unsealed', 'memfd-small', 'shm-file', 'file-ro', 'pipe', 'socket-own', 'socket-listening', 'socket-peer', 'dev-null', 'dev-zero', 'directory',
];
/** Kinds that are never guest memory the back-end can map (refused with a non-zero ack). */
export const NOT_MEMORY: readonly FdKindName[] = [
  'eventfd', 'eventfd-blocking', 'file-ro', 'pipe', 'socket-own', 'socket-listening', 'socket-peer', 'dev-null', 'dev-zero', 'directory',
];
/** Every kind that needs no session context. */
export const ANY_KIND: readonly FdKindName[] = [...new Set<FdKindName>([...NOT_EVENTFDS, ...NOT_MEMORY, 'eventfd-full'])];

const EVENTFD_FULL = 0xffff_ffff_ffff_fffen;

/** The fds shared by every session of a run. */
export class FdZoo {
  private readonly dir: string;
  private readonly child: ChildProcess;
  private readonly listener: UnixServer;
  private readonly peer: UnixSocket;
  private readonly accepted: UnixSocket[] = [];
  private readonly shared: Partial<Record<FdKindName, number>> = {};
  private shm = 0;

  private constructor(dir: string, child: ChildProcess, listener: UnixServer, peer: UnixSocket) {
    this.dir = dir;
    this.child = child;
    this.listener = listener;
    this.peer = peer;
  }

  static async open(): Promise<FdZoo> {
    const dir = mkdtempSync(join(tmpdir(), 'vq-fuzz-fds-'));
    // A pipe the kernel calls "pipe:[...]" (Node's own child stdio are socketpairs): the one between
    // two sleeps of a shell pipeline, reopened read-write and non-blocking through /proc (so nothing
    // here ever blocks on it), with 3 bytes in it as a front-end might leave.
    // (Without LD_PRELOAD: under the sanitizer build the shell need not carry its runtime.)
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    const child = spawn('sh', ['-c', 'sleep 1000000 | sleep 1000000 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true, env });
    const reader = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      child.once('error', reject);
    });
    for (let tries = 0; !readlinkSync(`/proc/${reader}/fd/0`).startsWith('pipe:'); tries++) {
      if (tries > 200) throw new Error('the pipe holder never got its pipe');
      await new Promise((r) => setTimeout(r, 5));
    }
    const listener = UnixServer.listen(join(dir, 'other.sock'));
    const peer = UnixSocket.connect(join(dir, 'other.sock'));
    const z = new FdZoo(dir, child, listener, peer);
    listener.on('connection', (s) => z.accepted.push(s));
    const pipe = openSync(`/proc/${reader}/fd/0`, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(pipe, Buffer.from([1, 2, 3]));
    z.shared.pipe = pipe;
    z.shared['socket-listening'] = listener.fd;
    z.shared['socket-peer'] = peer.fd;
    z.shared['dev-null'] = openSync('/dev/null', 'r+');
    z.shared['dev-zero'] = openSync('/dev/zero', 'r+');
    z.shared.directory = openSync(dir, 'r');
    z.shared['file-ro'] = openSync(process.execPath, 'r');
    return z;
  }

  /** The shared fd of `kind`, if it is one. */
  sharedFd(kind: FdKindName): number | undefined {
    return this.shared[kind];
  }

  /** A file of `size` bytes in /dev/shm (else the temp dir), unlinked: memory that can shrink. */
  shmFile(size: number): number {
    const base = existsSync('/dev/shm') ? '/dev/shm' : this.dir;
    const path = join(base, `vq-fuzz-${process.pid}-${this.shm++}`);
    const fd = openSync(path, 'w+');
    unlinkSync(path);
    ftruncateSync(fd, size);
    return fd;
  }

  close(): void {
    for (const k of ['pipe', 'dev-null', 'dev-zero', 'directory', 'file-ro'] as const) {
      const fd = this.shared[k];
      if (fd !== undefined) closeSync(fd);
    }
    this.peer.close();
    for (const s of this.accepted) s.close();
    this.listener.close();
    // The shell and both sleeps: the process group the shell leads (it was started detached).
    if (this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The fds one session opened (closed together when it ends), and how to make one of a kind. */
export class SessionFds {
  private readonly owned: number[] = [];
  private readonly events: EventFd[] = [];
  private readonly full = new Set<EventFd>();
  /** Eventfds sent as kicks, so a session can signal them. */
  readonly kicks: EventFd[] = [];
  /** Memory fds nothing seals against shrinking (the session may truncate them under the back-end). */
  readonly shrinkables: number[] = [];

  constructor(private readonly zoo: FdZoo, private readonly ownSocket: number,
              private readonly context: (spec: FdSpec) => number | undefined = () => undefined) {}

  /** An fd of `spec`'s kind (owned by the session or shared; the caller must not close it). */
  make(spec: FdSpec): number {
    const fromContext = this.context(spec);
    if (fromContext !== undefined) return fromContext;
    const shared = this.zoo.sharedFd(spec.kind);
    if (shared !== undefined) return shared;
    switch (spec.kind) {
      case 'memfd': return this.own(memfdCreate('fuzz-guest', spec.size ?? 1 << 20));
      case 'memfd-unsealed': return this.shrinkable(this.own(memfdCreate('fuzz-unsealed', spec.size ?? 1 << 20, 0)));
      case 'memfd-small': return this.own(memfdCreate('fuzz-small', 4096));
      case 'shm-file': return this.shrinkable(this.own(this.zoo.shmFile(spec.size ?? 1 << 20)));
      case 'eventfd': return this.event(EventFd.create());
      case 'eventfd-blocking': return this.event(new EventFd(eventfdCreate(0, EFD_CLOEXEC)));
      case 'eventfd-full': {
        const e = new EventFd(eventfdCreate(0, EFD_CLOEXEC));
        eventfdWrite(e.fd, EVENTFD_FULL);
        this.full.add(e);
        return this.event(e);
      }
      case 'socket-own': return this.ownSocket;
      default: throw new Error(`no fd of kind ${spec.kind} in this session`);
    }
  }

  /**
   * Remembers the eventfd behind `fd` as a kick a session may signal. Not one made with a full
   * counter: unless the back-end made it non-blocking (it does for every kick it accepts),
   * signalling it would block this thread.
   */
  sentAsKick(fd: number): void {
    const e = this.events.find((x) => x.fd === fd);
    if (e && !this.full.has(e)) this.kicks.push(e);
  }

  closeAll(): void {
    for (const e of this.events.splice(0)) e.close();
    this.full.clear();
    for (const fd of this.owned.splice(0)) close(fd);
    this.kicks.length = 0;
    this.shrinkables.length = 0;
  }

  /** An fd that came from the back-end (a reply's): the session closes it with the rest. */
  adopt(fd: number): number {
    return this.own(fd);
  }

  private shrinkable(fd: number): number {
    this.shrinkables.push(fd);
    return fd;
  }

  private own(fd: number): number {
    this.owned.push(fd);
    return fd;
  }

  private event(e: EventFd): number {
    this.events.push(e);
    return e.fd;
  }
}
