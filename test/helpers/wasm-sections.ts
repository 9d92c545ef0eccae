// A small reader for the parts of a WebAssembly binary the sharing tests care about: the
// section list, the imports (with memory limits) and the globals' mutability.

export interface Section {
  id: number;
  /** Offset of the section's contents, and their size. */
  start: number;
  size: number;
}

export interface Import {
  module: string;
  name: string;
  /** 0 func, 1 table, 2 memory, 3 global, 4 tag. */
  kind: number;
  memory?: { min: number; max?: number; shared: boolean; memory64: boolean };
}

class Reader {
  constructor(readonly b: Uint8Array, public pos: number) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new Error(`unexpected end of module at ${this.pos}`);
    return this.b[this.pos++];
  }

  /** Unsigned LEB128 (up to 64 bits; returned as a number, exact below 2^53). */
  leb(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error(`LEB128 too long at ${this.pos}`);
  }

  name(): string {
    const len = this.leb();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  /** Skips a constant expression up to and including its `end`. */
  skipConstExpr(): void {
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return; // end
      if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2) this.leb(); // i32/i64.const, global.get, ref.func
      else if (op === 0x43) this.pos += 4; // f32.const
      else if (op === 0x44) this.pos += 8; // f64.const
      else if (op === 0xd0) this.byte(); // ref.null t
      else if ([0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e].includes(op)) continue; // extended-const arithmetic
      else throw new Error(`unexpected opcode 0x${op.toString(16)} in a constant expression`);
    }
  }
}

/** Checks the header and lists the sections in order. */
export function sections(bytes: Uint8Array): Section[] {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (!magic.every((m, i) => bytes[i] === m)) throw new Error('not a WebAssembly module (bad magic)');
  const version = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true);
  if (version !== 1) throw new Error(`unexpected WebAssembly version ${version}`);
  const r = new Reader(bytes, 8);
  const out: Section[] = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.leb();
    out.push({ id, start: r.pos, size });
    r.pos += size;
    if (r.pos > bytes.length) throw new Error(`section ${id} runs past the end of the module`);
  }
  return out;
}

export function imports(bytes: Uint8Array, sec: Section): Import[] {
  const r = new Reader(bytes, sec.start);
  const n = r.leb();
  const out: Import[] = [];
  for (let i = 0; i < n; i++) {
    const imp: Import = { module: r.name(), name: r.name(), kind: r.byte() };
    if (imp.kind === 0) r.leb();
    else if (imp.kind === 1 || imp.kind === 2) {
      if (imp.kind === 1) r.byte(); // reference type
      const flags = r.byte();
      const min = r.leb();
      const max = flags & 1 ? r.leb() : undefined;
      if (imp.kind === 2) imp.memory = { min, max, shared: (flags & 2) !== 0, memory64: (flags & 4) !== 0 };
    } else if (imp.kind === 3) r.pos += 2; // value type, mutability
    else if (imp.kind === 4) { r.byte(); r.leb(); }
    else throw new Error(`unknown import kind ${imp.kind}`);
    out.push(imp);
  }
  return out;
}

export function globals(bytes: Uint8Array, sec: Section): { type: number; mutable: boolean }[] {
  const r = new Reader(bytes, sec.start);
  const n = r.leb();
  const out: { type: number; mutable: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.byte();
    const mutable = r.byte() === 1;
    r.skipConstExpr();
    out.push({ type, mutable });
  }
  return out;
}

/** The number a section starts with: how many entries (or segments) it holds. */
export function entryCount(bytes: Uint8Array, sec: Section): number {
  return new Reader(bytes, sec.start).leb();
}
