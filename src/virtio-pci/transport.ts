// The driver's side of the virtio PCI modern transport (VIRTIO 1.2 §4.1.4.3, §3.1.1): device
// status, feature negotiation up to FEATURES_OK, the device configuration read consistently
// (config_generation), the ISR, and where a queue's doorbell is. Registers are reached through
// BarAccess (an mmapped VFIO BAR, or a model in tests); structure locations come from
// findVirtioStructures. The device is not trusted: every wait is bounded, and a refusal is an
// error that names the rule.
import * as L from '../../assembly/layout/virtio-pci.js';
import * as DS from '../../assembly/layout/device-status.js';
import { FEATURES, featureNames, featureWords, negotiate, type FeatureSet } from '../features.js';
import { VirtioPciError, type VirtioPciLayout, type VirtioPciStructure } from './capabilities.js';

/** Loads and stores of exactly 1, 2 or 4 bytes at an offset of one BAR (VfioBar has this shape). */
export interface BarAccess {
  read(offset: number, width: 1 | 2 | 4): number;
  write(offset: number, width: 1 | 2 | 4, value: number): void;
}

export interface HandshakeResult {
  /** What the device offered. */
  offered: FeatureSet;
  /** What both sides took (written to driver_feature; FEATURES_OK read back). */
  negotiated: FeatureSet;
  /** device_status afterwards: ACKNOWLEDGE | DRIVER | FEATURES_OK. */
  status: number;
}

export interface TransportOptions {
  /** How long reset() waits for device_status to read 0; 1000 ms when omitted. */
  resetTimeoutMs?: number;
}

/** The features this driver cannot do without: VIRTIO 1.x, and DMA through the IOMMU (descriptors carry IOVAs). */
export const REQUIRED_FEATURES: FeatureSet = FEATURES.VERSION_1 | FEATURES.ACCESS_PLATFORM;

/** Times a device may change its configuration while it is being read before the read gives up (2.5.1). */
const CONFIG_READ_TRIES = 16;

const sleepMs = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

export class VirtioPciTransport {
  private readonly common: BarAccess;
  private readonly resetTimeoutMs: number;

  constructor(readonly layout: VirtioPciLayout, private readonly bars: (bar: number) => BarAccess, opts: TransportOptions = {}) {
    this.common = bars(layout.common.bar);
    this.resetTimeoutMs = opts.resetTimeoutMs ?? 1000;
  }

  private read(field: number, width: 1 | 2 | 4): number {
    return this.common.read(this.layout.common.offset + field, width);
  }

  private write(field: number, width: 1 | 2 | 4, value: number): void {
    this.common.write(this.layout.common.offset + field, width, value);
  }

  status(): number {
    return this.read(L.COMMON_DEVICE_STATUS, 1);
  }

  /** Sets more status bits (the others stay). */
  addStatus(bits: number): void {
    this.write(L.COMMON_DEVICE_STATUS, 1, this.status() | bits);
  }

  /** Whether the device asks to be reset (DEVICE_NEEDS_RESET, 2.1.1). */
  needsReset(): boolean {
    return (this.status() & DS.STATUS_DEVICE_NEEDS_RESET) !== 0;
  }

  /** Writes 0 to device_status and waits (bounded) until it reads 0 (4.1.4.3.2). */
  reset(): void {
    this.write(L.COMMON_DEVICE_STATUS, 1, 0);
    const end = Date.now() + this.resetTimeoutMs;
    for (let s = this.status(); s !== 0; s = this.status()) {
      if (Date.now() > end) {
        throw new VirtioPciError('4.1.4.3.2', `device_status still reads 0x${s.toString(16)} ${this.resetTimeoutMs} ms after the driver wrote 0 (reset)`);
      }
      sleepMs(1);
    }
  }

  numQueues(): number {
    return this.read(L.COMMON_NUM_QUEUES, 2);
  }

  configGeneration(): number {
    return this.read(L.COMMON_CONFIG_GENERATION, 1);
  }

  /** The 64 feature bits the device offers (device_feature through device_feature_select 0 and 1). */
  deviceFeatures(): FeatureSet {
    const words: number[] = [];
    for (const select of [0, 1]) {
      this.write(L.COMMON_DEVICE_FEATURE_SELECT, 4, select);
      words.push(this.read(L.COMMON_DEVICE_FEATURE, 4) >>> 0);
    }
    return BigInt(words[0]) | (BigInt(words[1]) << 32n);
  }

  /** Writes the driver's 64 feature bits (driver_feature through driver_feature_select 0 and 1). */
  setDriverFeatures(set: FeatureSet): void {
    featureWords(set).forEach((word, select) => {
      this.write(L.COMMON_DRIVER_FEATURE_SELECT, 4, select);
      this.write(L.COMMON_DRIVER_FEATURE, 4, word);
    });
  }

  /**
   * The initialization sequence up to FEATURES_OK (3.1.1 steps 1-6): reset, ACKNOWLEDGE, DRIVER,
   * the device's features read, the negotiated set (offered & (accept | REQUIRED_FEATURES))
   * written, FEATURES_OK set and read back. On a refusal the device gets FAILED and this throws.
   */
  handshake(accept: FeatureSet): HandshakeResult {
    this.reset();
    this.addStatus(DS.STATUS_ACKNOWLEDGE);
    this.addStatus(DS.STATUS_DRIVER);
    const offered = this.deviceFeatures();
    const fail = (section: string, why: string): never => {
      this.addStatus(DS.STATUS_FAILED);
      throw new VirtioPciError(section, why);
    };
    const missing = REQUIRED_FEATURES & ~offered;
    if (missing !== 0n) {
      fail('6.1', `the device does not offer ${featureNames(missing).join(', ')}, which this driver needs (a modern device behind an IOMMU)`);
    }
    let negotiated: FeatureSet = 0n;
    try {
      negotiated = negotiate(offered, accept | REQUIRED_FEATURES);
    } catch (e) {
      fail('3.1.1', (e as Error).message);
    }
    this.setDriverFeatures(negotiated);
    this.addStatus(DS.STATUS_FEATURES_OK);
    const status = this.status();
    if ((status & DS.STATUS_FEATURES_OK) === 0) {
      fail('3.1.1', `the device did not accept the features ${featureNames(negotiated).join(', ')} (FEATURES_OK did not read back)`);
    }
    return { offered, negotiated, status };
  }

  /**
   * `length` bytes of the device-specific configuration from `offset`, read so that no change
   * of the device's happened in between (config_generation the same before and after, 2.5.1);
   * gives up after CONFIG_READ_TRIES changes.
   */
  readDeviceConfig(offset: number, length: number): Uint8Array {
    const s = this.structure(this.layout.device, 'device-specific configuration', '4.1.4.6', offset, length);
    const bar = this.bars(s.bar);
    for (let tries = 0; tries < CONFIG_READ_TRIES; tries++) {
      const before = this.configGeneration();
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = bar.read(s.offset + offset + i, 1);
      if (this.configGeneration() === before) return out;
    }
    throw new VirtioPciError('2.5.1', `config_generation changed on each of ${CONFIG_READ_TRIES} reads of the device configuration`);
  }

  /** Reads (and so clears) the ISR status: ISR_QUEUE | ISR_CONFIG bits (4.1.4.5). */
  isr(): number {
    const s = this.structure(this.layout.isr, 'ISR status', '4.1.4.5', 0, 1);
    return this.bars(s.bar).read(s.offset, 1);
  }

  /** Where queue `index`'s doorbell is: BAR and offset (notify.offset + queue_notify_off * multiplier, 4.1.4.4). */
  queueNotifyAddress(index: number): { bar: number; offset: number } {
    this.write(L.COMMON_QUEUE_SELECT, 2, index);
    const off = this.read(L.COMMON_QUEUE_NOTIFY_OFF, 2);
    const at = off * this.layout.notify.multiplier;
    this.structure(this.layout.notify, `notification (queue ${index}, queue_notify_off ${off})`, '4.1.4.4', at, 2);
    return { bar: this.layout.notify.bar, offset: this.layout.notify.offset + at };
  }

  /**
   * Sets queue `index` up through the common configuration (4.1.5.1.3): its size (at most the
   * device's maximum; a power of 2 for a split ring), its MSI-X vector (read back: the device
   * answers VIRTIO_MSI_NO_VECTOR when it has none to give, 4.1.5.1.2), and the IOVAs of its
   * descriptor area, driver area and device area. enableQueue() then turns it on. Returns where
   * its doorbell is.
   */
  setupQueue(index: number, q: { size: number; desc: bigint; driver: bigint; device: bigint; msixVector?: number }): { bar: number; offset: number } {
    if (index >= this.numQueues()) throw new VirtioPciError('4.1.4.3', `queue ${index} does not exist (num_queues ${this.numQueues()})`);
    this.write(L.COMMON_QUEUE_SELECT, 2, index);
    const max = this.read(L.COMMON_QUEUE_SIZE, 2);
    if (max === 0) throw new VirtioPciError('4.1.5.1.3', `queue ${index} is not available (queue_size 0)`);
    if (q.size < 1 || q.size > max || (q.size & (q.size - 1)) !== 0) {
      throw new VirtioPciError('2.7', `queue ${index}: size ${q.size} is not a power of 2 in [1, ${max}] (the device's queue_size)`);
    }
    if (this.read(L.COMMON_QUEUE_ENABLE, 2) !== 0) throw new VirtioPciError('4.1.4.3.2', `queue ${index} is enabled already (reset the device first)`);
    this.write(L.COMMON_QUEUE_SIZE, 2, q.size);
    const vector = q.msixVector ?? L.VIRTIO_MSI_NO_VECTOR;
    this.write(L.COMMON_QUEUE_MSIX_VECTOR, 2, vector);
    const got = this.read(L.COMMON_QUEUE_MSIX_VECTOR, 2);
    if (got !== vector) throw new VirtioPciError('4.1.5.1.2', `queue ${index}: the device did not take MSI-X vector ${vector} (reads ${got})`);
    for (const [field, iova] of [[L.COMMON_QUEUE_DESC, q.desc], [L.COMMON_QUEUE_DRIVER, q.driver], [L.COMMON_QUEUE_DEVICE, q.device]] as const) {
      this.write(field, 4, Number(iova & 0xffffffffn));
      this.write(field + 4, 4, Number(iova >> 32n));
    }
    return this.queueNotifyAddress(index);
  }

  /** Turns queue `index` on (queue_enable = 1), after setupQueue. */
  enableQueue(index: number): void {
    this.write(L.COMMON_QUEUE_SELECT, 2, index);
    this.write(L.COMMON_QUEUE_ENABLE, 2, 1);
  }

  /** The configuration-change interrupt's MSI-X vector, read back as for a queue's (4.1.5.1.2). */
  setConfigMsixVector(vector: number): void {
    this.write(L.COMMON_CONFIG_MSIX_VECTOR, 2, vector);
    const got = this.read(L.COMMON_CONFIG_MSIX_VECTOR, 2);
    if (got !== vector) throw new VirtioPciError('4.1.5.1.2', `the device did not take MSI-X vector ${vector} for configuration changes (reads ${got})`);
  }

  /** Sets DRIVER_OK (3.1.1 step 8): the device may use the queues from now on. */
  driverOk(): void {
    this.addStatus(DS.STATUS_DRIVER_OK);
  }

  /**
   * An available buffer notification for queue `index` (4.1.5.2), at `at` (its
   * queueNotifyAddress, kept by the caller). Without VIRTIO_F_NOTIFICATION_DATA the queue's index
   * is written (16 bits). With it, pass `next`, and 32 bits go (2.9): the index, then next_off
   * and next_wrap in the upper 16 bits; `next` is those 16 bits: a split ring's available index,
   * or a packed ring's next descriptor offset with its wrap counter in bit 15.
   */
  notify(index: number, at: { bar: number; offset: number }, next?: number): void {
    if (next === undefined) {
      this.bars(at.bar).write(at.offset, 2, index);
      return;
    }
    if (!Number.isInteger(next) || next < 0 || next > 0xffff) throw new RangeError(`notify: next ${next} is not 16 bits (next_off and next_wrap)`);
    this.bars(at.bar).write(at.offset, 4, (index | (next << 16)) >>> 0);
  }

  /** `s`, checked to hold [offset, offset + length). */
  private structure(s: VirtioPciStructure | undefined, name: string, section: string, offset: number, length: number): VirtioPciStructure {
    if (!s) throw new VirtioPciError(section, `the device has no ${name} structure`);
    if (offset < 0 || length < 0 || offset + length > s.length) {
      throw new VirtioPciError(section, `[${offset}, ${offset + length}) is outside the ${name} structure (${s.length} bytes)`);
    }
    return s;
  }
}
