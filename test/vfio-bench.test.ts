// bench/vfio.bench.ts's parts, without a guest: frames counted at the host-side sink go to the
// run that sent them and the rates come out of the frames' times (bench/sink-windows.ts, a fake
// clock here); a round's guest steps and how its result is read (bench/vfio-rounds.ts).
import { describe, expect, it } from 'vitest';
import type { VfioGuestResult } from './helpers/vfio-guest.js';
import type { VqpktReport } from './helpers/qemu.js';
import { SinkWindows, windowRate } from '../bench/sink-windows.js';
import { parseBenchLine, readRound, roundSteps } from '../bench/vfio-rounds.js';

describe('SinkWindows', () => {
  it('attributes frames to the open run, counts the rest as stray, and measures the steady rate', () => {
    let t = 0;
    const w = new SinkWindows(100, () => t);
    w.frame(64); // before any run
    w.begin('kernel 1');
    // 1000 frames per second for 1 s: one every ms, all 64 bytes
    for (let i = 0; i < 1000; i++, t++) w.frame(64);
    w.close();
    w.frame(60); // between runs
    t += 5000;
    w.begin('vfio 1');
    // a slow start (10 frames in the first 100 ms), then 3000 per second for 1 s
    for (let i = 0; i < 10; i++, t += 10) w.frame(64);
    for (let i = 0; i < 3000; i++, t += 1 / 3) w.frame(64);
    w.begin('kernel 2'); // the next run begins: vfio 1 closes
    w.close();
    expect(w.stray).toBe(2);
    expect(w.done.map((x) => [x.label, x.frames])).toEqual([['kernel 1', 1000], ['vfio 1', 3010], ['kernel 2', 0]]);
    const k = windowRate(w.get('kernel 1')!);
    expect(k.frameBytes).toBe(64);
    expect(k.mean).toBeCloseTo(1000, 0);
    expect(k.steady).toBeCloseTo(1000, -1);
    const v = windowRate(w.get('vfio 1')!);
    // the steady rate leaves the slow first bucket out; the mean does not
    expect(v.steady).toBeCloseTo(3000, -2);
    expect(v.mean).toBeLessThan(2800);
    expect(windowRate(w.get('kernel 2')!)).toEqual({ mean: 0, steady: 0, frameBytes: 0 });
  });

  it('closes a window after the grace period once its run ended', async () => {
    const w = new SinkWindows(100);
    w.begin('kernel 1');
    w.frame(64);
    w.end(20);
    w.frame(64); // still in flight: counted
    await new Promise((r) => setTimeout(r, 60));
    w.frame(64);
    expect(w.get('kernel 1')?.frames).toBe(2);
    expect(w.stray).toBe(1);
  });
});

describe('the VFIO benchmark round', () => {
  it('brackets each side with VQ-BENCH lines, the kernel run on virtio-pci and virtqueue vfio on vfio-pci', () => {
    const steps = roundSteps('echo', 2, 5, 64);
    const text = steps.map((s) => (Array.isArray(s) ? `node ${s.join(' ')}` : s.sh)).join('\n');
    const order = ['vq_rebind "$VQ_VFIO_DEVICE" virtio-pci', 'VQ-BENCH begin echo kernel 2', 'vqpkt -i "$ifc" -n 1000000000 -s 64 -T 5 -t echo-kernel-2',
      'VQ-BENCH end echo kernel 2', 'vq_rebind "$VQ_VFIO_DEVICE" vfio-pci', 'VQ-BENCH begin echo vfio 2',
      'node test/helpers/vfio-cli.mjs vfio --fwd txonly --frame-size 64 --duration 5 --json', 'VQ-BENCH end echo vfio 2'];
    let at = -1;
    for (const o of order) {
      const i = text.indexOf(o, at + 1);
      expect(i, o).toBeGreaterThan(at);
      at = i;
    }
  });

  it('reads a round: the sink\'s steady rates, each sender\'s own count, the ratio vfio / kernel', () => {
    let t = 0;
    const w = new SinkWindows(100, () => t);
    const lines = ['VQ-BENCH begin txonly kernel 1', 'VQ-BENCH end txonly kernel 1', 'VQ-BENCH begin txonly vfio 1', 'VQ-BENCH end txonly vfio 1'].map(parseBenchLine);
    expect(lines[0]).toEqual({ what: 'begin', label: 'txonly kernel 1', kase: 'txonly', side: 'kernel', round: 1 });
    expect(parseBenchLine('VQ-OUT 0 {}')).toBeUndefined();
    w.begin(lines[0]!.label);
    for (let i = 0; i < 1000; i++, t += 1) w.frame(64); // 1000 fps
    w.begin(lines[2]!.label);
    for (let i = 0; i < 2500; i++, t += 0.4) w.frame(64); // 2500 fps
    w.close();
    const pkt = { tag: 'txonly-kernel-1', sent: 1100, rx: 0, seconds: 1 } as VqpktReport;
    const guest = { vqpkt: [pkt] } as unknown as VfioGuestResult['guest'];
    const json = JSON.stringify({ tx_packets: 5000, rx_packets: 10, seconds: 2 });
    const ok: VfioGuestResult = { guest, more: [], runs: [{ status: 0, stdout: `log\n${json}\n`, stderr: '' }] };
    const r = readRound('txonly', 1, 0, w, ok);
    expect(r.kernel.sink?.frames).toBe(1000);
    expect(r.kernel.own).toBe(1100);
    expect(r.vfio.own).toBe(2500);
    expect(r.vfio.rx).toBe(5);
    expect(r.ratio).toBeCloseTo(2.5, 1);
    expect(r.kernel.error).toBeUndefined();
    expect(r.vfio.error).toBeUndefined();
    // round 2 never ran: no windows, no VQPKT line, no node run
    const none = readRound('txonly', 2, 1, w, ok);
    expect(none.ratio).toBeUndefined();
    expect(none.kernel.error).toMatch(/no frames from txonly kernel 2/);
    expect(none.vfio.error).toMatch(/no frames from txonly vfio 2/);
    // the other case's windows are not this one's
    expect(readRound('echo', 1, 0, w, ok).kernel.error).toMatch(/no frames from echo kernel 1/);
    // virtqueue vfio failed: its stderr is the error
    const failed = readRound('txonly', 1, 0, w, { ...ok, runs: [{ status: 1, stdout: '', stderr: 'virtqueue: cannot open 0000:01:00.0: not bound to vfio-pci\n' }] });
    expect(failed.vfio.error).toMatch(/status 1: virtqueue: cannot open/);
    expect(failed.ratio).toBeCloseTo(2.5, 1); // the sink still saw the frames
  });
});
