// A QEMU guest with a virtual IOMMU whose virtio-net device is bound to vfio-pci, running the
// host's own Node on the repository (Node only; test/vfio-guest.test.ts).
//
// The guest is test/helpers/qemu.ts's (Debian's kernel, a busybox initramfs, TCG), with
// VFIO_GUEST_MODULES and test/qemu/guest/vfio-init.sh. QEMU gets:
//   - q35 with kernel-irqchip=split and an intel-iommu (interrupt remapping, caching-mode): the
//     Debian kernel has no VFIO_NOIOMMU, so vfio-pci needs an IOMMU, and caching-mode makes QEMU
//     see the guest's IOMMU mappings (VFIO in the guest maps through it);
//   - one virtio-net-pci, modern only (disable-legacy=on: PCI 1af4:1041) with iommu_platform=on
//     (VIRTIO_F_ACCESS_PLATFORM: its DMA goes through the IOMMU, as a real VF's does);
//   - the host's /usr and the repository, read-only over virtio-9p (tags "usr", "repo"; nothing
//     else of the host is exported): the guest's init makes a root of them and runs
//     /usr/bin/node there, the repository at its host path. Node needs only package.json, bin/,
//     dist/ and build/ at run time, so `npm run build` must have run.
//
// The device's netdev: by default `-netdev stream` over a unix socket, QEMU listening, nobody
// connecting (frames the guest sends are dropped). A traffic test gives its own netdev:
// `-netdev stream` to a small host-side frame reflector (independent of our code, no shared
// guest memory, MSI-X works), or `vhostUser`, a vhost-user back-end with the vhost-user IOTLB
// (iommu_platform=on: the back-end sees IOVAs and asks QEMU to translate them), INTx only.
//
// A second device for multiqueue (`mq`): virtio-net-pci with mq=on on a multiqueue tap, in a
// network namespace of QEMU's own (`unshare -n`: nothing of it is the host's, and it goes when
// QEMU exits), whose kernel sends each frame the guest's device sends straight back to it (tc's
// mirred action on the tap's ingress: frames come back unchanged, on the tap queue their flow
// came from). QEMU's stream and socket netdevs have one queue, so they cannot give a device
// more than one queue pair. Needs unshare, ip and tc (iproute2), and root or user namespaces.
//
// runVfioGuest() boots once, runs the given node invocations in turn (from the repository's
// directory, with VQ_VFIO_DEVICE set to the device's PCI address), and returns each one's
// stdout, stderr and exit status, bounded by `timeoutMs`; QEMU runs under `nice`.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildBaseInitramfs, ensureKernel, launchGuest, repoRoot, requireQemu, VFIO_GUEST_MODULES, type Guest, type GuestResult,
} from './qemu.js';

export { skipWithoutQemu as skipWithoutVfioGuest } from './qemu.js';
/** The repository's root on the host, which is also its path in the guest. */
export { repoRoot };

/**
 * A shell step of the guest's script, run as root in the initramfs (not in the host's root that
 * Node runs in): busybox, the init's functions (vq_rebind, vq_netif), $VQ_VFIO_DEVICE, and with
 * `kernelDriver` /bin/vqpkt. Its status is not checked; its output goes to the console.
 */
export interface ShellStep { sh: string }

export interface VfioGuestOptions {
  /**
   * What the guest runs, in order: Node invocations (node's arguments: a script path, relative to
   * the repository or absolute, then its own) and shell steps.
   */
  node: (string[] | ShellStep)[];
  /**
   * Also put the kernel's virtio_net driver (loaded, but the devices start on vfio-pci) and vqpkt
   * into the initramfs, so a shell step can move the device to the kernel's driver
   * (`vq_rebind "$VQ_VFIO_DEVICE" virtio-pci`) and send from a packet socket. False when omitted.
   */
  kernelDriver?: boolean;
  /** The virtio-net device's -netdev, without its id; a listening stream socket nobody connects to when omitted. */
  netdev?: string;
  /**
   * A vhost-user back-end listening on this unix socket: QEMU connects to it (`-chardev socket`,
   * `-netdev vhost-user`), and guest RAM is a shared memfd (`memory-backend-memfd,share=on`) the
   * back-end maps. Overrides `netdev`. QEMU 7.2 under TCG segfaults with MSI-X and vhost-user
   * (qemu.ts, GuestOptions.vectors): give the device 'vectors=0' (INTx).
   */
  vhostUser?: string;
  /**
   * Back the guest's shared memory (tmpfs, memfds) with transparent huge pages
   * (shmem_enabled=force), so each 2 MiB of a VFIO driver's DMA memory is one run of guest pages:
   * for a back-end that needs IOVA-adjacent IOTLB entries to be adjacent in its own memory too
   * (DPDK's net_vhost, vhost_user_iotlb_cache_find). Default false (4 KiB pages, scattered).
   */
  shmemHuge?: boolean;
  /** More virtio-net-pci properties, e.g. 'packed=on', 'vectors=0', 'mac=...'. */
  device?: string[];
  /**
   * A second virtio-net-pci (after the first in VQ_VFIO_DEVICES) with mq=on and `queues` queue
   * pairs, on a multiqueue tap that reflects every frame (see above); `device`: more properties.
   */
  mq?: { queues: number; device?: string[] };
  /**
   * Put the device behind a PCIe root port (it then has Function Level Reset, so
   * VFIO_DEVICE_RESET works, as on a real VF); on the root complex's bus when false. True when omitted.
   */
  rootPort?: boolean;
  /** Guest RAM in MiB; 1024 when omitted (the host's Node with a Wasm memory needs room). */
  memMb?: number;
  /** Everything is over by then (SIGTERM, then SIGKILL); 60 s when omitted. */
  timeoutMs?: number;
  /** Called with each console line as it comes. */
  onLine?: (line: string) => void;
  /**
   * Environment for every node run. When omitted and this process runs the sanitizer build
   * (VIRTQUEUE_NATIVE=asan, as .ci/sanitize sets), the guest's Node runs it too: VIRTQUEUE_NATIVE,
   * LD_PRELOAD (the host's libasan and libubsan, under /usr), ASAN_OPTIONS and UBSAN_OPTIONS are passed on.
   */
  env?: Record<string, string>;
}

/** The sanitizer settings of this process, for the guest's Node (see VfioGuestOptions.env). */
function sanitizerEnv(): Record<string, string> {
  if (process.env.VIRTQUEUE_NATIVE !== 'asan') return {};
  const keys = ['VIRTQUEUE_NATIVE', 'LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'];
  return Object.fromEntries(keys.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
}

export interface NodeRun {
  /** Exit status (128 + signal when killed by one); null when the guest never reported it. */
  status: number | null;
  /** How long it ran, in the guest's seconds (TCG time: under load, longer than the host's own). */
  seconds?: number;
  stdout: string;
  stderr: string;
}

export interface VfioGuestResult {
  guest: GuestResult;
  /** The device bound to vfio-pci (PCI address), its IOMMU group and its driver, from the VQ-VFIO line. */
  device?: string;
  /** Further devices bound to vfio-pci (VQ-VFIO-MORE lines): the `mq` one. */
  more: string[];
  group?: number;
  driver?: string;
  /** One per `node` invocation that ran. */
  runs: NodeRun[];
}

/** The tap of the `mq` device, in QEMU's network namespace. */
export const MQ_TAP = 'vqmq0';

/**
 * A script that runs QEMU ("$@") in a network namespace of its own with MQ_TAP, a multiqueue tap
 * whose ingress is mirrored back out of it (every frame QEMU writes to it comes back). Written
 * into `dir`; QEMU keeps its pid (exec), so signals reach it.
 */
function mqWrapper(dir: string, qemu: string): string {
  const file = path.join(dir, 'qemu-in-netns.sh');
  const setup = [
    `ip tuntap add dev ${MQ_TAP} mode tap multi_queue`,
    `ip link set ${MQ_TAP} up`,
    `tc qdisc add dev ${MQ_TAP} ingress`,
    `tc filter add dev ${MQ_TAP} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ${MQ_TAP}`,
  ].join(' && ');
  const unshare = process.getuid?.() === 0 ? 'unshare -n' : 'unshare -rn';
  writeFileSync(file, `#!/bin/sh\nexec ${unshare} sh -c '${setup} || { echo "VFIO guest: the multiqueue tap could not be set up (unshare, ip, tc)" >&2; exit 1; }; exec "$0" "$@"' ${quote(qemu)} "$@"\n`, { mode: 0o755 });
  return file;
}

/** The QEMU arguments of a VFIO guest (also what README shows). */
export function vfioQemuArgs(o: { memMb: number; netdev: string; device: string[]; rootPort: boolean; mq?: VfioGuestOptions['mq']; vhostUser?: string }, kernel: string, initrd: string): string[] {
  const virtfs = (dir: string, tag: string): string[] => [
    '-virtfs', `local,path=${dir},mount_tag=${tag},security_model=none,readonly=on,multidevs=remap`,
  ];
  return [
    '-accel', 'tcg', '-machine', 'q35,kernel-irqchip=split', '-cpu', 'max', '-m', String(o.memMb), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-device', 'intel-iommu,intremap=on,caching-mode=on',
    '-kernel', kernel, '-initrd', initrd,
    // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail and
    // panic at boot ("timer doesn't work through Interrupt-remapped IO-APIC").
    '-append', 'console=ttyS0 intel_iommu=on quiet loglevel=4 panic=-1 ipv6.disable=1 no_timer_check',
    ...(o.vhostUser === undefined ? ['-netdev', `${o.netdev},id=n0`] : [
      '-object', `memory-backend-memfd,id=mem,size=${o.memMb}M,share=on`, '-numa', 'node,memdev=mem',
      '-chardev', `socket,id=chr0,path=${o.vhostUser}`, '-netdev', 'vhost-user,id=n0,chardev=chr0',
    ]),
    ...(o.rootPort ? ['-device', 'pcie-root-port,id=rp0,chassis=1'] : []),
    '-device', ['virtio-net-pci,netdev=n0,disable-legacy=on,iommu_platform=on', ...(o.rootPort ? ['bus=rp0'] : []), ...o.device].join(','),
    ...(o.mq ? [
      '-netdev', `tap,id=n1,ifname=${MQ_TAP},script=no,downscript=no,vhost=off,queues=${o.mq.queues}`,
      ...(o.rootPort ? ['-device', 'pcie-root-port,id=rp1,chassis=2'] : []),
      '-device', ['virtio-net-pci,netdev=n1,disable-legacy=on,iommu_platform=on,mq=on', ...(o.rootPort ? ['bus=rp1'] : []), ...(o.mq.device ?? [])].join(','),
    ] : []),
    ...virtfs('/usr', 'usr'), ...virtfs(repoRoot, 'repo'),
  ];
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Boots the guest, starts the node invocations; resolves with the guest once QEMU runs. */
export function startVfioGuest(o: VfioGuestOptions): { guest: Guest; result: Promise<VfioGuestResult> } {
  if (!existsSync(path.join(repoRoot, 'dist/src/index.js'))) {
    throw new Error(`VFIO guest: ${repoRoot}/dist is missing: run \`npm run build\` (the guest's Node runs the compiled code)`);
  }
  const tools = requireQemu();
  const kernel = ensureKernel();
  const base = buildBaseInitramfs(tools, kernel, {
    init: 'vfio-init.sh',
    modules: kernel.loadOrderOf(o.kernelDriver ? [...VFIO_GUEST_MODULES, 'virtio_net'] : VFIO_GUEST_MODULES),
    vqpkt: o.kernelDriver ?? false,
  });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vq-vfio-'));
  const netdev = o.netdev ?? `stream,server=on,addr.type=unix,addr.path=${path.join(tmp, 'net.sock')}`;
  const script = [
    `VQ_REPO=${quote(repoRoot)}`,
    'vq_host "$VQ_REPO" || return 1',
    ...(o.shmemHuge ? ['echo force >/sys/kernel/mm/transparent_hugepage/shmem_enabled || echo "VQ-ERROR shmem_enabled"'] : []),
    ...Object.entries(o.env ?? sanitizerEnv()).map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`VFIO guest: bad environment variable name ${k}`);
      return `export ${k}=${quote(v)}`;
    }),
    'st=0',
    ...o.node.map((step) => (Array.isArray(step) ? `vq_node ${step.map(quote).join(' ')} || st=$?` : step.sh)),
    'return $st',
  ].join('\n');
  const qemu = o.mq ? { ...tools, qemu: mqWrapper(tmp, tools.qemu) } : tools;
  const guest = launchGuest(
    qemu, base,
    (initrd) => vfioQemuArgs({ memMb: o.memMb ?? 1024, netdev, device: o.device ?? [], rootPort: o.rootPort ?? true, mq: o.mq, vhostUser: o.vhostUser }, kernel.vmlinuz, initrd),
    { script, timeoutMs: o.timeoutMs ?? 60_000, onLine: o.onLine, nice: 10 },
  );
  const result = guest.exited.then((g) => {
    rmSync(tmp, { recursive: true, force: true });
    return parseVfioGuest(g);
  });
  return { guest, result };
}

/** Boots the guest and runs the node invocations to the end (power-off, failure or the deadline). */
export function runVfioGuest(o: VfioGuestOptions): Promise<VfioGuestResult> {
  return startVfioGuest(o).result;
}

/** The VQ-VFIO, VQ-OUT, VQ-ERR and VQ-NODE lines of a guest's console. */
export function parseVfioGuest(guest: GuestResult): VfioGuestResult {
  const r: VfioGuestResult = { guest, more: [], runs: [] };
  const run = (i: number): NodeRun => {
    while (r.runs.length <= i) r.runs.push({ status: null, stdout: '', stderr: '' });
    return r.runs[i];
  };
  for (const line of guest.console.split('\n')) {
    const at = line.indexOf('VQ-');
    if (at < 0) continue;
    const tagged = line.slice(at);
    let m: RegExpExecArray | null;
    if ((m = /^VQ-VFIO device=(\S+) group=(\S+) driver=(\S*)/.exec(tagged))) {
      r.device = m[1];
      r.group = /^\d+$/.test(m[2]) ? Number(m[2]) : undefined;
      r.driver = m[3];
    } else if ((m = /^VQ-VFIO-MORE device=(\S+)/.exec(tagged))) {
      r.more.push(m[1]);
    } else if ((m = /^VQ-(OUT|ERR) (\d+) ?(.*)$/.exec(tagged))) {
      const n = run(Number(m[2]));
      if (m[1] === 'OUT') n.stdout += `${m[3]}\n`;
      else n.stderr += `${m[3]}\n`;
    } else if ((m = /^VQ-NODE (\d+) status=(\d+)(?: start=([\d.]+) end=([\d.]+))?/.exec(tagged))) {
      const n = run(Number(m[1]));
      n.status = Number(m[2]);
      if (m[3] !== undefined) n.seconds = Math.round((Number(m[4]) - Number(m[3])) * 100) / 100;
    }
  }
  return r;
}

/** A short account of a VFIO guest run, for assertion messages. */
export function describeVfioGuest(r: VfioGuestResult, lines = 40): string {
  const g = r.guest;
  return [
    `QEMU exit code ${g.code}, signal ${g.signal}${g.timedOut ? ' (timed out)' : ''} after ${g.ms} ms; device ${r.device} group ${r.group} driver ${r.driver}${r.more.length ? `; more: ${r.more.join(' ')}` : ''}`,
    ...r.runs.map((n, i) => `--- node ${i}: status ${n.status}, ${n.seconds} s ---\n${n.stdout}${n.stderr ? `--- stderr ---\n${n.stderr}` : ''}`),
    '--- console (last lines) ---', g.console.split('\n').slice(-lines).join('\n'),
    '--- QEMU stderr ---', g.stderr.trim(),
  ].join('\n');
}
