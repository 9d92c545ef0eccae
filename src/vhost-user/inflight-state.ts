// The back-end's own inflight state file (assembly/layout/inflight.ts, "The back-end's state
// file"), for front-ends that never send GET/SET_INFLIGHT_FD (QEMU's virtio-net): each vring's
// inflight region in a slot of a file that outlives the back-end process, and a record of whose
// ring it tracks (the guest memory file's st_dev and st_ino, the ring's addresses, Queue Size and
// layout) and whether the device was running it. The next back-end process on the same socket
// resumes a ring from its region only when its record says running and names the same ring.
//
// The file is opened without following a symlink, created with mode 0600, and refused when it is
// not a regular file of this user with no permission for anyone else.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, constants } from 'node:fs';
import * as I from '../../assembly/layout/inflight.js';
import { PAGE_SIZE } from '../native/index.js';
import type { RingLayout } from '../virtqueue/factory.js';

/** The ring a region tracks, as the state file records it. */
export interface RingIdentity {
  layout: RingLayout;
  num: number;
  /** st_dev and st_ino of the guest memory file holding the descriptor area. */
  dev: bigint;
  ino: bigint;
  /** SET_VRING_ADDR's addresses. */
  desc: bigint;
  avail: bigint;
  used: bigint;
}

export interface StateRecord {
  running: boolean;
  identity: RingIdentity | undefined;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export const sameRing = (a: RingIdentity, b: RingIdentity): boolean =>
  a.layout === b.layout && a.num === b.num && a.dev === b.dev && a.ino === b.ino && a.desc === b.desc && a.avail === b.avail && a.used === b.used;

export class InflightStateFile {
  /** Bytes of the header: the file header and one record per vring, in whole pages. */
  readonly headerBytes: number;
  /** Bytes of each vring's region slot (the largest region, in whole pages). */
  readonly slotBytes: number;
  private closed = false;

  private constructor(readonly path: string, readonly fd: number, readonly vrings: number) {
    this.headerBytes = roundUp(I.STATE_RECORDS + vrings * I.STATE_RECORD_SIZE, PAGE_SIZE);
    this.slotBytes = roundUp(I.STATE_SLOT, PAGE_SIZE);
  }

  /**
   * Opens (or creates) the state file at `path` for a device of `vrings` vrings. A file that is not
   * a state file for that many vrings (new, or anything else) is laid out afresh: every record
   * stopped. Throws with the reason when the path is a symlink, not a regular file, not this
   * user's, or open to anyone else.
   */
  static open(path: string, vrings: number): InflightStateFile {
    if (!Number.isInteger(vrings) || vrings < 1 || vrings > 256) throw new RangeError(`state file for ${vrings} vrings: 1 to 256`);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ELOOP' ? `state file ${path} is a symbolic link (never followed)` : `state file ${path}: ${(e as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`state file ${path} is not a regular file`);
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error(`state file ${path} belongs to uid ${st.uid}, not to this user`);
      if ((st.mode & 0o077) !== 0) throw new Error(`state file ${path} has mode 0${(st.mode & 0o777).toString(8)}: other users could read or write it (0600 expected)`);
      const f = new InflightStateFile(path, fd, vrings);
      f.prepare(st.size);
      return f;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Lays the file out afresh unless it is already a state file for this many vrings. */
  private prepare(size: number): void {
    const h = Buffer.alloc(I.STATE_RECORDS);
    if (size >= I.STATE_RECORDS) readSync(this.fd, h, 0, h.length, 0);
    const ours = h.readUInt32LE(I.STATE_MAGIC) === I.STATE_MAGIC_LO && h.readUInt32LE(I.STATE_MAGIC + 4) === I.STATE_MAGIC_HI
      && h.readUInt32LE(I.STATE_VERSION) === I.STATE_VERSION_1 && h.readUInt32LE(I.STATE_VRINGS) === this.vrings;
    const total = this.headerBytes + this.vrings * this.slotBytes;
    if (!ours) {
      // Header and records zeroed (every ring stopped); the regions are sparse until written.
      ftruncateSync(this.fd, 0);
      h.fill(0);
      h.writeUInt32LE(I.STATE_MAGIC_LO, I.STATE_MAGIC);
      h.writeUInt32LE(I.STATE_MAGIC_HI, I.STATE_MAGIC + 4);
      h.writeUInt32LE(I.STATE_VERSION_1, I.STATE_VERSION);
      h.writeUInt32LE(this.vrings, I.STATE_VRINGS);
      writeSync(this.fd, h, 0, h.length, 0);
    }
    if (size !== total || !ours) ftruncateSync(this.fd, total);
  }

  /** Where vring `index`'s region slot starts in the file. */
  slotOffset(index: number): number {
    this.check(index);
    return this.headerBytes + index * this.slotBytes;
  }

  record(index: number): StateRecord {
    this.check(index);
    const b = Buffer.alloc(I.STATE_RECORD_SIZE);
    readSync(this.fd, b, 0, b.length, I.STATE_RECORDS + index * I.STATE_RECORD_SIZE);
    const layout = b.readUInt32LE(I.STATE_R_LAYOUT);
    const known = layout === I.STATE_LAYOUT_SPLIT || layout === I.STATE_LAYOUT_PACKED;
    return {
      running: b.readUInt32LE(I.STATE_R_STATE) === I.STATE_RUNNING,
      identity: !known ? undefined : {
        layout: layout === I.STATE_LAYOUT_SPLIT ? 'split' : 'packed', num: b.readUInt32LE(I.STATE_R_NUM),
        dev: b.readBigUInt64LE(I.STATE_R_DEV), ino: b.readBigUInt64LE(I.STATE_R_INO),
        desc: b.readBigUInt64LE(I.STATE_R_DESC), avail: b.readBigUInt64LE(I.STATE_R_AVAIL), used: b.readBigUInt64LE(I.STATE_R_USED),
      },
    };
  }

  /** Records that the device runs vring `index` for the ring `id` (its region then tracks it). */
  setRunning(index: number, id: RingIdentity): void {
    this.check(index);
    const b = Buffer.alloc(I.STATE_RECORD_SIZE);
    b.writeUInt32LE(I.STATE_RUNNING, I.STATE_R_STATE);
    b.writeUInt32LE(id.layout === 'split' ? I.STATE_LAYOUT_SPLIT : I.STATE_LAYOUT_PACKED, I.STATE_R_LAYOUT);
    b.writeUInt32LE(id.num, I.STATE_R_NUM);
    b.writeBigUInt64LE(id.dev, I.STATE_R_DEV);
    b.writeBigUInt64LE(id.ino, I.STATE_R_INO);
    b.writeBigUInt64LE(id.desc, I.STATE_R_DESC);
    b.writeBigUInt64LE(id.avail, I.STATE_R_AVAIL);
    b.writeBigUInt64LE(id.used, I.STATE_R_USED);
    writeSync(this.fd, b, 0, b.length, I.STATE_RECORDS + index * I.STATE_RECORD_SIZE);
  }

  /** Records that vring `index` stopped with the front-end told where it was: nothing to resume. */
  setStopped(index: number): void {
    this.check(index);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(I.STATE_STOPPED, 0);
    writeSync(this.fd, b, 0, 4, I.STATE_RECORDS + index * I.STATE_RECORD_SIZE + I.STATE_R_STATE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private check(index: number): void {
    if (this.closed) throw new Error(`state file ${this.path} is closed`);
    if (!Number.isInteger(index) || index < 0 || index >= this.vrings) throw new RangeError(`vring ${index}: the state file has ${this.vrings} vrings`);
  }
}
