// QEMU guests as vhost-user front-ends of `virtqueue vhost` (Node only; test/qemu-guest.test.ts).
//
// What a guest is made of, all built on demand into a cache directory that git never sees
// (node_modules/.cache/virtqueue-qemu/, or $VIRTQUEUE_QEMU_CACHE):
//   - Debian's kernel: the package linux-image-amd64 depends on (found with apt-cache; one
//     `apt-get update` when apt knows nothing yet) is fetched with `apt-get download`, unpacked
//     with `dpkg -x`, and only vmlinuz and the virtio-net modules are kept;
//   - test/qemu/guest/vqpkt.c, compiled with `gcc -static -O2`: the guest's raw frame sender
//     and counter (AF_PACKET, ethertype 0x88b5);
//   - an initramfs (newc cpio, written here, gzip): busybox (the static one from busybox-static),
//     vqpkt, the modules with their load order (each module's `depends=` from its .modinfo,
//     sorted), test/qemu/guest/init.sh as /init and common.sh (what every init does first and
//     last) as /lib/vq-common.sh. The VFIO guest (vfio-guest.ts) has its own init and modules.
// Each run appends a second, uncompressed cpio with the test's script as /vq/run.sh (the kernel
// unpacks concatenated archives in turn), so the base image is built once.
//
// startGuest() runs qemu-system-x86_64 under TCG with its RAM in a shared memfd and a
// virtio-net-pci device on a vhost-user netdev; the serial console is QEMU's stdio: every line
// is kept and parsed (VQ-* lines of init.sh, VQPKT lines of vqpkt), and a VQ-ASK line is
// answered on the console with the boot count. Every process is bounded in time: a guest that
// has not powered off by `timeoutMs` gets SIGTERM, then SIGKILL; any QEMU or back-end still
// running when this process exits is SIGKILLed.
//
// startBackend() runs `virtqueue vhost ... --json` as the guest's back-end, listening or (with
// client) connecting, and parses its summary.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parseVhostCliResult, peersRequired, virtqueueBin, type VhostCliResult, type VhostFwd } from './testpmd.js';

/** The repository's root, from test/helpers/ or, compiled for a benchmark, from dist/test/helpers/. */
export const repoRoot = ['../../', '../../../']
  .map((up) => fileURLToPath(new URL(up, import.meta.url)).replace(/\/$/, ''))
  .find((dir) => existsSync(path.join(dir, 'test/qemu/guest/vqpkt.c'))) ?? fileURLToPath(new URL('../../', import.meta.url));
const guestDir = path.join(repoRoot, 'test/qemu/guest');

/** Where kernels, vqpkt and initramfs images are cached (never committed). */
export const qemuCacheDir = (): string =>
  process.env.VIRTQUEUE_QEMU_CACHE ?? path.join(repoRoot, 'node_modules/.cache/virtqueue-qemu');

// ---------------------------------------------------------------------------------------------
// What the tests need, and whether they may be skipped.

const isExecutable = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

const onPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
};

/** Whether an ELF file has no program interpreter (a static executable, fit for an initramfs). */
export function isStaticElf(file: string): boolean {
  const b = readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

export interface QemuTools {
  qemu: string;
  busybox: string;
  gcc: string;
  aptGet: string;
  dpkg: string;
}

/** The tools a guest needs, or the list of what is missing. */
export function findQemuTools(): { tools?: QemuTools; missing: string[] } {
  const missing: string[] = [];
  const qemu = process.env.VIRTQUEUE_QEMU ?? onPath('qemu-system-x86_64');
  if (!qemu || !isExecutable(qemu)) missing.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => isExecutable(p) && isStaticElf(p));
  if (!busybox) missing.push('a static busybox (apt-get install busybox-static)');
  const gcc = onPath('gcc');
  if (!gcc || !existsSync('/usr/include/stdio.h')) missing.push('gcc and libc6-dev (apt-get install gcc libc6-dev)');
  const aptGet = onPath('apt-get');
  const dpkg = onPath('dpkg');
  if (!aptGet || !dpkg) missing.push('apt-get and dpkg (for the kernel package)');
  if (missing.length) return { missing };
  return { tools: { qemu: qemu!, busybox: busybox!, gcc: gcc!, aptGet: aptGet!, dpkg: dpkg! }, missing };
}

/**
 * For `describe.skipIf(...)`: true only when a tool is missing AND peers are not required; with
 * VIRTQUEUE_REQUIRE_PEERS=1 nothing is skipped and requireQemu() fails the tests.
 */
export const skipWithoutQemu = (): boolean => !peersRequired() && findQemuTools().tools === undefined;

/** The tools; throws (fails the test) when one is missing. */
export function requireQemu(): QemuTools {
  const { tools, missing } = findQemuTools();
  if (!tools) {
    const what = `QEMU guest tests need: ${missing.join('; ')}`;
    throw new Error(peersRequired() ? `${what}; VIRTQUEUE_REQUIRE_PEERS=1 forbids skipping` : what);
  }
  return tools;
}

// ---------------------------------------------------------------------------------------------
// The kernel.

/** The modules virtio-net over PCI needs (their dependencies are read from the .ko files). */
export const GUEST_MODULES = ['virtio_net', 'virtio_pci'];

/**
 * The modules of a VFIO guest (test/helpers/vfio-guest.ts): 9p over virtio for the host's files,
 * vfio-pci with the type1 IOMMU back-end, and virtio_pci last of all (init binds the virtio-net
 * device to vfio-pci through driver_override before virtio_pci can claim it). No virtio_net.
 */
export const VFIO_GUEST_MODULES = ['9p', '9pnet_virtio', 'vfio_pci', 'vfio_iommu_type1', 'virtio_pci'];

/** Every module set a guest may ask for: the kernel cache keeps all of them. */
const KEPT_MODULES = [...GUEST_MODULES, ...VFIO_GUEST_MODULES];

export interface GuestKernel {
  /** The Debian package it came from, e.g. linux-image-6.1.0-57-amd64. */
  pkg: string;
  /** The kernel release, e.g. 6.1.0-57-amd64. */
  release: string;
  vmlinuz: string;
  /** Module name -> .ko path, every module of every set (GUEST_MODULES, VFIO_GUEST_MODULES) and what they depend on. */
  modules: Map<string, string>;
  /** GUEST_MODULES and their dependencies in load order (dependencies first). */
  loadOrder: string[];
  /** Any wanted modules (of those kept) and their dependencies in load order, `wanted`'s order kept where it is free. */
  loadOrderOf(wanted: string[]): string[];
}

const run = (cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string => {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, killSignal: 'SIGKILL',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20,
  });
  if (r.error || r.status !== 0) {
    const out = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}, signal ${r.signal}`}):\n${out}`);
  }
  return r.stdout;
};

/** The kernel package: what linux-image-amd64 depends on (newest linux-image-6.1.*-amd64 otherwise). */
function kernelPackage(): string | undefined {
  const fromMeta = (): string | undefined => {
    const r = spawnSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8', timeout: 60_000 });
    return /Depends:\s*(linux-image-[0-9][^\s]*-amd64)\s*$/m.exec(r.stdout ?? '')?.[1];
  };
  const fromSearch = (): string | undefined => {
    const r = spawnSync('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.[0-9]+-[0-9]+-amd64$'], {
      encoding: 'utf8', timeout: 60_000,
    });
    const names = (r.stdout ?? '').split('\n').map((l) => l.split(' ')[0]).filter((n) => /^linux-image-6\.1\.\d+-\d+-amd64$/.test(n));
    const abi = (n: string): number => Number(/-(\d+)-amd64$/.exec(n)![1]);
    return names.sort((a, b) => abi(b) - abi(a))[0];
  };
  return fromMeta() ?? fromSearch();
}

/** Module -> dependencies, from the `depends=` string in a .ko's .modinfo section. */
export function moduleDepends(ko: Buffer): string[] {
  const m = /\0depends=([^\0]*)\0/.exec(ko.toString('latin1'));
  return m && m[1] ? m[1].split(',').filter(Boolean) : [];
}

function indexModules(root: string): Map<string, string> {
  const all = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) all.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(root);
  return all;
}

/** The modules `wanted` need, in load order (dependencies first). */
function closure(wanted: string[], depsOf: (m: string) => string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: string): void => {
    if (state.get(m) === 'done') return;
    if (state.get(m) === 'visiting') throw new Error(`module dependency cycle at ${m}`);
    state.set(m, 'visiting');
    for (const d of depsOf(m)) visit(d);
    state.set(m, 'done');
    order.push(m);
  };
  for (const m of wanted) visit(m);
  return order;
}

let kernelMemo: GuestKernel | undefined;

/**
 * The guest kernel from the cache; on a miss, downloads Debian's package and keeps vmlinuz and
 * the modules (about 10 s, once). Several processes may race: each builds in a directory of its
 * own and renames it into place.
 */
export function ensureKernel(): GuestKernel {
  if (kernelMemo) return kernelMemo;
  const cache = qemuCacheDir();
  mkdirSync(cache, { recursive: true });
  // A cached kernel serves if it kept every module of KEPT_MODULES (older caches kept fewer).
  const load = (dir: string): GuestKernel | undefined => {
    const manifest = path.join(dir, 'kernel.json');
    if (!existsSync(manifest)) return undefined;
    const j = JSON.parse(readFileSync(manifest, 'utf8')) as { pkg: string; release: string; depends?: Record<string, string[]> };
    const depends = j.depends;
    if (!depends || !KEPT_MODULES.every((m) => m in depends)) return undefined;
    const modules = new Map(Object.keys(depends).map((m) => [m, path.join(dir, 'modules', `${m}.ko`)] as const));
    const loadOrderOf = (wanted: string[]): string[] => closure(wanted, (m) => {
      const d = depends[m];
      if (!d) throw new Error(`module ${m} is not in the cached kernel ${dir} (add it to KEPT_MODULES)`);
      return d;
    });
    return {
      pkg: j.pkg, release: j.release, vmlinuz: path.join(dir, 'vmlinuz'), modules, loadOrder: loadOrderOf(GUEST_MODULES), loadOrderOf,
    };
  };
  const existing = readdirSync(cache).filter((n) => n.startsWith('kernel-')).sort().reverse();
  for (const n of existing) {
    const k = load(path.join(cache, n));
    if (k) return (kernelMemo = k);
  }

  let pkg = kernelPackage();
  if (!pkg) {
    run('apt-get', ['update', '-qq']);
    pkg = kernelPackage();
  }
  if (!pkg) throw new Error('no linux-image-*-amd64 package known to apt (apt-cache depends linux-image-amd64 found nothing)');
  const work = mkdtempSync(path.join(cache, 'tmp-kernel-'));
  try {
    const download = (name: string): void => { run('apt-get', ['download', '-q', name], { cwd: work }); };
    try {
      download(pkg);
    } catch {
      // A stale package list names a version the mirror no longer has: refresh it once.
      run('apt-get', ['update', '-qq']);
      pkg = kernelPackage() ?? pkg;
      download(pkg);
    }
    const deb = readdirSync(work).find((n) => n.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${work}`);
    const tree = path.join(work, 'x');
    run('dpkg', ['-x', path.join(work, deb), tree]);
    const release = readdirSync(path.join(tree, 'lib/modules'))[0];
    const vmlinuz = path.join(tree, 'boot', `vmlinuz-${release}`);
    if (!existsSync(vmlinuz)) throw new Error(`${deb} has no boot/vmlinuz-${release}`);
    const all = indexModules(path.join(tree, 'lib/modules', release, 'kernel'));
    const depsOf = (m: string): string[] => {
      const p = all.get(m);
      if (!p) throw new Error(`module ${m} not in ${deb} (built in? compressed?)`);
      // .modinfo names some with dashes (vfio-pci-core); the index, like the kernel, with underscores.
      return moduleDepends(readFileSync(p)).map((d) => d.replace(/-/g, '_'));
    };
    const kept = closure(KEPT_MODULES, depsOf);
    const depends = Object.fromEntries(kept.map((m) => [m, depsOf(m)]));
    const out = path.join(work, 'kernel');
    mkdirSync(path.join(out, 'modules'), { recursive: true });
    copyFileSync(vmlinuz, path.join(out, 'vmlinuz'));
    for (const m of kept) copyFileSync(all.get(m)!, path.join(out, 'modules', `${m}.ko`));
    writeFileSync(path.join(out, 'kernel.json'), `${JSON.stringify({ pkg, deb, release, depends }, null, 1)}\n`);
    const dest = path.join(cache, `kernel-${release}-${sha(...KEPT_MODULES)}`);
    try {
      renameSync(out, dest);
    } catch (e) {
      if (!existsSync(path.join(dest, 'kernel.json'))) throw e; // another process won the race
    }
    return (kernelMemo = load(dest)!);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The initramfs.

export interface CpioEntry {
  name: string;
  /** File type and permissions, e.g. 0o100755 for an executable, 0o40755 for a directory. */
  mode: number;
  data?: Buffer;
  /** Device numbers of a character or block device. */
  rdevMajor?: number;
  rdevMinor?: number;
}

/** A newc ("070701") cpio archive of `entries`, with its trailer. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer): void => { parts.push(b); size += b.length; };
  const pad = (): void => { if (size % 4) push(Buffer.alloc(4 - (size % 4))); };
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [
      ino++, e.mode, 0, 0, (e.mode & 0o170000) === 0o40000 ? 2 : 1, 0, data.length, 0, 0,
      (e as CpioEntry).rdevMajor ?? 0, (e as CpioEntry).rdevMinor ?? 0, name.length, 0,
    ];
    push(Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1'));
    push(name);
    pad();
    push(data);
    pad();
  }
  return Buffer.concat(parts, size);
}

const sha = (...parts: (string | Buffer)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
};

/** vqpkt compiled for the guest (cached by the source's hash). */
export function buildVqpkt(tools: QemuTools): string {
  const src = path.join(guestDir, 'vqpkt.c');
  const out = path.join(qemuCacheDir(), `vqpkt-${sha(readFileSync(src))}`);
  if (existsSync(out)) return out;
  mkdirSync(qemuCacheDir(), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  run(tools.gcc, ['-static', '-O2', '-Wall', '-o', tmp, src]);
  renameSync(tmp, out);
  return out;
}

/** What goes into a base initramfs besides busybox. */
export interface InitramfsSpec {
  /** The /init script, a file in test/qemu/guest/. */
  init: string;
  /** Modules in load order (written to /lib/vq-modules, the .ko files to /lib/modules/). */
  modules: string[];
  /** Whether vqpkt goes in (/bin/vqpkt). */
  vqpkt: boolean;
}

/** The base initramfs of the vhost-user guests: init.sh, vqpkt, GUEST_MODULES. */
export const vhostGuestInitramfs = (kernel: GuestKernel): InitramfsSpec => ({ init: 'init.sh', modules: kernel.loadOrder, vqpkt: true });

/** The base initramfs (gzip, padded to 4 bytes so that another archive can follow); cached by its content. */
export function buildBaseInitramfs(tools: QemuTools, kernel: GuestKernel, spec: InitramfsSpec = vhostGuestInitramfs(kernel)): string {
  const vqpkt = spec.vqpkt ? readFileSync(buildVqpkt(tools)) : undefined;
  const init = readFileSync(path.join(guestDir, spec.init));
  const common = readFileSync(path.join(guestDir, 'common.sh'));
  const busybox = readFileSync(tools.busybox);
  const modules = spec.modules.map((m) => {
    const ko = kernel.modules.get(m);
    if (!ko) throw new Error(`initramfs: module ${m} is not in the cached kernel ${kernel.release}`);
    return [m, readFileSync(ko)] as const;
  });
  const key = sha(init, common, busybox, vqpkt ?? '', kernel.release, ...modules.map(([m, b]) => m + sha(b)));
  const out = path.join(qemuCacheDir(), `initramfs-${key}.cpio.gz`);
  if (existsSync(out)) return out;
  const dir = (name: string): CpioEntry => ({ name, mode: 0o40755 });
  const entries: CpioEntry[] = [
    dir('bin'), dir('sbin'), dir('usr'), dir('usr/bin'), dir('usr/sbin'), dir('dev'), dir('proc'), dir('sys'),
    dir('tmp'), dir('lib'), dir('lib/modules'), dir('vq'),
    { name: 'dev/console', mode: 0o20600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'init', mode: 0o100755, data: init },
    { name: 'lib/vq-common.sh', mode: 0o100644, data: common },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    ...(vqpkt ? [{ name: 'bin/vqpkt', mode: 0o100755, data: vqpkt }] : []),
    { name: 'lib/vq-modules', mode: 0o100644, data: Buffer.from(`${spec.modules.join('\n')}\n`) },
    ...modules.map(([m, b]) => ({ name: `lib/modules/${m}.ko`, mode: 0o100644, data: b })),
  ];
  let gz = gzipSync(cpioNewc(entries), { level: 6 });
  if (gz.length % 4) gz = Buffer.concat([gz, Buffer.alloc(4 - (gz.length % 4))]);
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, gz);
  renameSync(tmp, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Processes: every one is SIGKILLed if this process exits while it runs.

const live = new Set<ChildProcess>();
let exitHook = false;
const track = (c: ChildProcess): void => {
  live.add(c);
  c.once('close', () => live.delete(c));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of live) {
        try { p.kill('SIGKILL'); } catch { /* gone */ }
      }
    });
  }
};

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`'s value, or undefined if it has not settled within `ms`. */
async function settleWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The guest.

export interface GuestOptions {
  /** The vhost-user socket. */
  socket: string;
  /** Shell text run by /init as /vq/run.sh (sourced: vq_counters and vq_ask are defined). */
  script: string;
  /** packed=on on the device. */
  packed?: boolean;
  /** Queue pairs: queues=N on the netdev, mq=on on the device (when > 1). */
  queues?: number;
  /** QEMU listens on the socket (server=on,wait=off) and `virtqueue vhost --client` connects. */
  server?: boolean;
  /** QEMU connects, and reconnects this many seconds after the back-end goes (reconnect=N). */
  reconnect?: number;
  /**
   * MSI-X vectors of the device (vectors=N); 0 (INTx only) when omitted. QEMU 7.2 (Debian 12)
   * under TCG segfaults with MSI-X and any vhost-user back-end (DPDK's net_vhost too): when the
   * guest sets DRIVER_OK, vhost_net_start -> virtio_pci_set_guest_notifiers ->
   * msix_set_vector_notifiers crashes. Under KVM, MSI-X is the one to use.
   */
  vectors?: number;
  /** vCPUs (-smp); 1 when omitted. The guest's virtio-net uses min(vCPUs, queue pairs) pairs. */
  smp?: number;
  /** Guest RAM in MiB (-m and the memfd's size); 256 when omitted. */
  memMb?: number;
  /** Allow the guest to reboot (no -no-reboot). */
  allowReboot?: boolean;
  /** The device's MAC; 52:54:00:12:34:56 when omitted. */
  mac?: string;
  /** More kernel command line. */
  append?: string;
  /** Everything is over by then: SIGTERM, then SIGKILL 5 s later. 50 s when omitted. */
  timeoutMs?: number;
  /**
   * QEMU trace events to enable (-trace enable=PATTERN, written to QEMU's stderr), e.g.
   * `vhost_user_*` for every vhost-user message; $VIRTQUEUE_QEMU_TRACE (comma-separated) adds more.
   */
  trace?: string[];
  /** Called with each console line as it comes. */
  onLine?: (line: string) => void;
  /** A QMP monitor on this unix socket (-qmp unix:PATH,server=on,wait=off): see qmpConnect. */
  qmp?: string;
  /** Wait for an incoming migration (-incoming URI, e.g. unix:PATH) instead of booting. */
  incoming?: string;
  /**
   * The answer to a VQ-ASK line (vq_ask in the guest), given the boot count and how many
   * questions came before; the boot count when omitted. May take its time (the guest waits 30 s).
   */
  answer?: (boots: number, asked: number) => string | Promise<string>;
}

export interface VqpktReport {
  tag?: string;
  if: string;
  cpu: number;
  sent: number;
  send_errors: number;
  rx: number;
  rx_swapped: number;
  rx_same: number;
  /** Sequence numbers of this run that came back at least once, and the copies beyond the first. */
  rx_unique: number;
  rx_dup: number;
  /** Frames the guest kernel dropped on vqpkt's receiving socket (PACKET_STATISTICS tp_drops). */
  rx_drops: number;
  /** With -L: milliseconds sending waited for the carrier. */
  held_ms: number;
  seconds: number;
}

export interface IfCounters {
  rx_packets: number;
  tx_packets: number;
  rx_dropped: number;
  tx_dropped: number;
  rx_bytes: number;
  tx_bytes: number;
}

export interface GuestResult {
  /** Exit code of QEMU (null after a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it had to be killed at `timeoutMs`. */
  timedOut: boolean;
  /** Milliseconds from spawn to exit. */
  ms: number;
  /** The serial console (escapes and carriage returns removed). */
  console: string;
  /** QEMU's own stderr. */
  stderr: string;
  /** VQ-BOOT lines seen. */
  boots: number;
  /** The `status` of each VQ-DONE line (run.sh's exit status). */
  done: number[];
  /** VQ-ERROR lines. */
  errors: string[];
  /** The interfaces that came up (VQ-UP), per boot. */
  up: string[][];
  /** Every VQPKT report, in order. */
  vqpkt: VqpktReport[];
  /** Every VQ-COUNTERS report, in order (the last one per interface is usually the one wanted). */
  counters: (IfCounters & { if: string })[];
  /** The ms (since spawn) at which each VQ-BOOT line came. */
  bootTimes: number[];
}

export interface Guest {
  readonly pid: number;
  /** The console so far. */
  console(): string;
  /** Resolves when a console line matches `re` (checked against the lines so far too). */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves when QEMU has exited (powered off, failed, or killed at the deadline). */
  readonly exited: Promise<GuestResult>;
  /** SIGTERM, then SIGKILL; resolves when it has exited. */
  kill(): Promise<GuestResult>;
}

const kv = (line: string): Record<string, string> => {
  const o: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=(\S+)/g)) o[m[1]] = m[2];
  return o;
};

export function parseVqpkt(line: string): VqpktReport {
  const o = kv(line);
  return {
    tag: o.tag, if: o.if, cpu: Number(o.cpu), sent: Number(o.sent), send_errors: Number(o.send_errors),
    rx: Number(o.rx), rx_swapped: Number(o.rx_swapped), rx_same: Number(o.rx_same),
    rx_unique: Number(o.rx_unique), rx_dup: Number(o.rx_dup), rx_drops: Number(o.rx_drops), held_ms: Number(o.held_ms), seconds: Number(o.seconds),
  };
}

export function parseCounters(line: string): IfCounters & { if: string } {
  const o = kv(line);
  const n = (k: string): number => Number(o[k]);
  return {
    if: o.if, rx_packets: n('rx_packets'), tx_packets: n('tx_packets'), rx_dropped: n('rx_dropped'),
    tx_dropped: n('tx_dropped'), rx_bytes: n('rx_bytes'), tx_bytes: n('tx_bytes'),
  };
}

/** The QEMU arguments for a guest (also what README shows). */
export function qemuArgs(o: GuestOptions, kernel: string, initrd: string): string[] {
  const mem = o.memMb ?? 256;
  const queues = o.queues ?? 1;
  const chardev = [
    `socket,id=chr0,path=${o.socket}`,
    ...(o.server ? ['server=on', 'wait=off'] : []),
    ...(o.reconnect !== undefined ? [`reconnect=${o.reconnect}`] : []),
  ].join(',');
  const netdev = ['vhost-user,id=net0,chardev=chr0', ...(queues > 1 ? [`queues=${queues}`] : [])].join(',');
  const device = [
    'virtio-net-pci,netdev=net0', `mac=${o.mac ?? '52:54:00:12:34:56'}`,
    ...(o.packed ? ['packed=on'] : []),
    ...(queues > 1 ? ['mq=on'] : []),
    `vectors=${o.vectors ?? 0}`,
  ].join(',');
  const append = ['console=ttyS0', 'panic=-1', 'ipv6.disable=1', 'loglevel=4', ...(o.append ? [o.append] : [])].join(' ');
  return [
    '-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-no-user-config', '-display', 'none',
    '-m', String(mem), '-smp', String(o.smp ?? 1),
    '-object', `memory-backend-memfd,id=mem,size=${mem}M,share=on`, '-numa', 'node,memdev=mem',
    '-kernel', kernel, '-initrd', initrd, '-append', append,
    '-chardev', chardev, '-netdev', netdev, '-device', device,
    '-serial', 'stdio',
    ...(o.allowReboot ? [] : ['-no-reboot']),
    ...(o.qmp ? ['-qmp', `unix:${o.qmp},server=on,wait=off`] : []),
    ...(o.incoming ? ['-incoming', o.incoming] : []),
    ...[...(o.trace ?? []), ...(process.env.VIRTQUEUE_QEMU_TRACE ?? '').split(',')]
      .filter(Boolean).flatMap((t) => ['-trace', `enable=${t}`]),
  ];
}

/** Builds what is missing and starts a guest; resolves once QEMU is spawned. */
export function startGuest(o: GuestOptions): Guest {
  const tools = requireQemu();
  const kernel = ensureKernel();
  return launchGuest(tools, buildBaseInitramfs(tools, kernel), (initrd) => qemuArgs(o, kernel.vmlinuz, initrd), o);
}

/** What launchGuest takes of GuestOptions (the script, the deadline, the console hooks), and a nice level. */
export type LaunchOptions = Pick<GuestOptions, 'script' | 'timeoutMs' | 'onLine' | 'answer'> & {
  /** Run QEMU under `nice -n` this (other work shares the cores); not niced when omitted. */
  nice?: number;
};

/**
 * Starts QEMU with `args(initrd)`, where initrd is the base initramfs `base` followed by a cpio
 * holding the script as /vq/run.sh, and follows its console (see startGuest).
 */
export function launchGuest(tools: QemuTools, base: string, args: (initrd: string) => string[], o: LaunchOptions): Guest {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-guest-'));
  const initrd = path.join(tmp, 'initrd');
  const script = cpioNewc([{ name: 'vq', mode: 0o40755 }, { name: 'vq/run.sh', mode: 0o100644, data: Buffer.from(`${o.script}\n`) }]);
  writeFileSync(initrd, Buffer.concat([readFileSync(base), script]));

  const t0 = Date.now();
  const argv = o.nice !== undefined ? ['nice', ['-n', String(o.nice), tools.qemu, ...args(initrd)]] as const : [tools.qemu, args(initrd)] as const;
  const child = spawn(argv[0], argv[1], { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const result: Omit<GuestResult, 'code' | 'signal' | 'timedOut' | 'ms' | 'console' | 'stderr'> = {
    boots: 0, done: [], errors: [], up: [], vqpkt: [], counters: [], bootTimes: [],
  };
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let asked = 0;
  const onLine = (raw: string): void => {
    // eslint-disable-next-line no-control-regex
    const line = raw.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    lines.push(line);
    const at = line.indexOf('VQ');
    const tagged = at >= 0 ? line.slice(at) : '';
    if (/^VQ-BOOT\s*$/.test(tagged)) { result.boots++; result.bootTimes.push(Date.now() - t0); }
    else if (tagged.startsWith('VQ-ASK')) {
      const boots = result.boots;
      const n = asked++;
      void Promise.resolve()
        .then(() => (o.answer ? o.answer(boots, n) : String(boots)))
        .then((a) => { if (!gone) child.stdin?.write(`${a}\n`); })
        .catch((e: unknown) => {
          result.errors.push(`VQ-ERROR harness: answer to VQ-ASK failed: ${(e as Error).message}`);
          void kill();
        });
    }
    else if (tagged.startsWith('VQ-DONE')) result.done.push(Number(kv(tagged).status));
    else if (tagged.startsWith('VQ-ERROR')) result.errors.push(tagged);
    else if (tagged.startsWith('VQ-UP')) result.up.push(tagged.split(/\s+/).slice(1));
    else if (tagged.startsWith('VQPKT')) result.vqpkt.push(parseVqpkt(tagged));
    else if (tagged.startsWith('VQ-COUNTERS')) result.counters.push(parseCounters(tagged));
    o.onLine?.(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].re.test(line)) { waiters[i].resolve(line); waiters.splice(i, 1); }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1 << 20) stderr += d; });
  child.stdin!.on('error', () => undefined); // QEMU gone before an answer was written

  let timedOut = false;
  let spawnError: Error | undefined;
  const exited = new Promise<GuestResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(deadline);
      if (partial) { onLine(partial); partial = ''; }
      rmSync(tmp, { recursive: true, force: true });
      resolve({
        ...result, code, signal, timedOut, ms: Date.now() - t0, console: lines.join('\n'),
        stderr: spawnError ? `${stderr}\nspawn: ${spawnError.message}` : stderr,
      });
    };
    child.on('error', (e) => { spawnError = e; finish(null, null); });
    child.on('close', finish);
  });
  let gone = false;
  void exited.then(() => { gone = true; });
  const kill = async (): Promise<GuestResult> => {
    if (!gone) {
      child.kill('SIGTERM');
      if ((await settleWithin(exited, 5_000)) === undefined) child.kill('SIGKILL');
    }
    return exited;
  };
  const deadline = setTimeout(() => { timedOut = true; void kill(); }, o.timeoutMs ?? 50_000);
  return {
    pid: child.pid ?? -1,
    console: () => lines.join('\n'),
    waitFor: (re, timeoutMs) => {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<string>((resolve, reject) => {
        const w = { re, resolve: (l: string) => { clearTimeout(t); resolve(l); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`guest console: no line matching ${re} within ${timeoutMs} ms; last lines:\n${lines.slice(-25).join('\n')}\nQEMU stderr:\n${stderr.trim()}`));
        }, timeoutMs);
        waiters.push(w);
        void exited.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`guest exited with no line matching ${re}; last lines:\n${lines.slice(-25).join('\n')}\nQEMU stderr:\n${stderr.trim()}`));
          }
        });
      });
    },
    exited,
    kill,
  };
}

/** Runs a guest to the end (power-off, failure or `timeoutMs`). */
export function runGuest(o: GuestOptions): Promise<GuestResult> {
  return startGuest(o).exited;
}

/** The last VQ-COUNTERS line for an interface. */
export function lastCounters(r: GuestResult, ifname = 'eth0'): IfCounters | undefined {
  return [...r.counters].reverse().find((c) => c.if === ifname);
}

/** A short account of a guest run, for assertion messages. */
export function describeGuest(r: GuestResult, lines = 40): string {
  return [
    `QEMU exit code ${r.code}, signal ${r.signal}${r.timedOut ? ' (timed out)' : ''} after ${r.ms} ms, boots ${r.boots}`,
    '--- console (last lines) ---', r.console.split('\n').slice(-lines).join('\n'),
    '--- QEMU stderr ---', r.stderr.trim(),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// QMP (QEMU's JSON monitor), enough to migrate.

export interface Qmp {
  /** Runs a command; resolves with its `return`, rejects with its `error`. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

/** Connects to a guest's QMP socket (waiting up to `timeoutMs` for it) and leaves capabilities negotiation. */
export async function qmpConnect(socketPath: string, timeoutMs = 15_000): Promise<Qmp> {
  const { createConnection } = await import('node:net');
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(socketPath)) break;
    if (Date.now() > end) throw new Error(`QMP: no socket ${socketPath} within ${timeoutMs} ms`);
    await delay(20);
  }
  const sock = createConnection(socketPath);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.setEncoding('utf8');
  let buf = '';
  const pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  let greeted: () => void = () => undefined;
  const greeting = new Promise<void>((r) => { greeted = r; });
  sock.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
      if (msg.QMP) greeted();
      else if (msg.event) continue;
      else if ('return' in msg) pending.shift()?.resolve(msg.return);
      else if (msg.error) pending.shift()?.reject(new Error(`QMP: ${msg.error.desc}`));
    }
  });
  sock.on('error', (e) => { for (const p of pending.splice(0)) p.reject(e); });
  await greeting;
  const execute = (command: string, args?: Record<string, unknown>): Promise<unknown> => new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
  });
  await execute('qmp_capabilities');
  return { execute, close: () => sock.destroy() };
}

// ---------------------------------------------------------------------------------------------
// The back-end.

export interface BackendOptions {
  socket: string;
  fwd: VhostFwd;
  /** Connect to QEMU listening at `socket` (--client); otherwise listen there (the socket is replaced). */
  client?: boolean;
  queues?: number;
  /** --guest-mem, MiB: at least the guest's RAM. */
  guestMemMb: number;
  /** --duration, seconds: the back-stop; the test normally stops it earlier with SIGINT. */
  duration: number;
  extraArgs?: string[];
}

export interface Backend {
  readonly pid: number;
  /** stderr and stdout so far (log lines: refused messages, connections). */
  log(): string;
  /** Resolves when stopped or its --duration is over; rejects when it did not print a summary. */
  readonly result: Promise<VhostCliResult>;
  /** SIGINT (the summary is printed), SIGKILL after `timeoutMs`; then `result`. */
  stop(timeoutMs?: number): Promise<VhostCliResult>;
  /** SIGKILL (no summary); resolves when it has exited. */
  kill(): Promise<void>;
  /** Whether it is still running. */
  running(): boolean;
  /** Resolves when a log line matches `re`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
}

/**
 * Starts `virtqueue vhost --json`. Listening: resolves once the socket exists; client: at once
 * (it connects with backoff). Killed at `duration` + 20 s whatever happens.
 */
export async function startBackend(o: BackendOptions): Promise<Backend> {
  if (!o.client) rmSync(o.socket, { force: true });
  const args = [
    virtqueueBin(), 'vhost', '--socket', o.socket, '--fwd', o.fwd, '--json', '--duration', String(o.duration),
    '--guest-mem', String(o.guestMemMb),
    ...(o.client ? ['--client'] : []),
    ...(o.queues !== undefined ? ['--queues', String(o.queues)] : []),
    ...(o.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 4 << 20) stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (log.length < 4 << 20) log += d; });
  let spawnError: Error | undefined;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (e) => { spawnError = e; resolve({ code: null, signal: null }); });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void closed.then(() => { done = true; clearTimeout(backstop); });
  const backstop = setTimeout(() => child.kill('SIGKILL'), (o.duration + 20) * 1000);
  const all = (): string => `${log}${stdout ? `\n${stdout}` : ''}`.trim();
  const result = closed.then(({ code, signal }) => {
    if (spawnError) throw new Error(`could not run virtqueue vhost: ${spawnError.message}`);
    try {
      return parseVhostCliResult(stdout);
    } catch (e) {
      throw new Error(`${(e as Error).message} (exit code ${code}, signal ${signal}); output:\n${all().split('\n').slice(-30).join('\n')}`);
    }
  });
  result.catch(() => undefined);
  const stop = async (timeoutMs = 10_000): Promise<VhostCliResult> => {
    if (!done) {
      child.kill('SIGINT');
      if ((await settleWithin(closed, timeoutMs)) === undefined) {
        child.kill('SIGKILL');
        await settleWithin(closed, 5_000);
      }
    }
    return result;
  };
  const kill = async (): Promise<void> => {
    if (!done) {
      child.kill('SIGKILL');
      await settleWithin(closed, 5_000);
    }
  };
  const waitFor = async (re: RegExp, timeoutMs: number): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (!re.test(log)) {
      if (done) throw new Error(`virtqueue vhost exited before logging ${re}:\n${all()}`);
      if (Date.now() > end) throw new Error(`virtqueue vhost did not log ${re} within ${timeoutMs} ms:\n${all()}`);
      await delay(20);
    }
  };
  if (!o.client) {
    const end = Date.now() + 15_000;
    while (!existsSync(o.socket)) {
      if (done || Date.now() > end) {
        await kill();
        throw new Error(`virtqueue vhost: no socket ${o.socket} (${done ? 'it exited' : 'after 15 s'}):\n${all()}`);
      }
      await delay(20);
    }
  }
  return { pid: child.pid ?? -1, log: all, result, stop, kill, running: () => !done, waitFor };
}
