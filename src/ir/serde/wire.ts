// Protocol-buffer wire format: a bounds-checked zero-copy reader and a writer that
// keeps large byte fields as references (no copy) until the final write.

import { SplitcError } from '../errors.js';

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

const TWO32 = 4294967296;

export class WireReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.byteLength,
    /** What is being read, for error messages. */
    readonly what = 'model',
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  private truncated(): never {
    throw new SplitcError('E_TRUNCATED', `the ${this.what} ends early (at byte ${this.pos} of a ${this.end}-byte message)`, {
      hint: 'the file is truncated or corrupted; re-export or re-download it',
    });
  }
  malformed(why: string): never {
    throw new SplitcError('E_MALFORMED', `malformed ${this.what}: ${why} (at byte ${this.pos})`, {
      hint: 'the file is corrupted or not a valid ONNX protobuf',
    });
  }

  /** Varint as an unsigned 32-bit-safe number (lengths, tags, enums); rejects > 2^53. */
  uint(): number {
    const { buf, end } = this;
    let p = this.pos;
    if (p >= end) this.truncated();
    let b = buf[p++]!;
    if (b < 0x80) {
      this.pos = p;
      return b;
    }
    let lo = b & 0x7f;
    let shift = 7;
    // first 28 bits in a plain int
    while (shift < 28) {
      if (p >= end) {
        this.pos = p;
        this.truncated();
      }
      b = buf[p++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = p;
        return lo >>> 0;
      }
      shift += 7;
    }
    this.pos = p;
    const v = this.varintRest(lo >>> 0);
    if (typeof v === 'bigint' || v < 0) this.malformed('varint out of range');
    return v;
  }

  /** Continue a varint after 28 bits; returns int64 semantics (number when safe, else bigint). */
  private varintRest(low28: number): number | bigint {
    const { buf, end } = this;
    let p = this.pos;
    // bits 28..31 of lo and bits 0.. of hi
    if (p >= end) this.truncated();
    let b = buf[p++]!;
    let lo = (low28 | ((b & 0x0f) << 28)) >>> 0;
    let hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      let shift = 3;
      for (let i = 0; i < 5; i++) {
        if (p >= end) {
          this.pos = p;
          this.truncated();
        }
        b = buf[p++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
        if (i === 4) {
          this.pos = p;
          this.malformed('varint longer than 10 bytes');
        }
      }
    }
    this.pos = p;
    hi >>>= 0;
    return int64FromParts(lo, hi);
  }

  /** Varint interpreted as int64. */
  int64(): number | bigint {
    const { buf, end } = this;
    let p = this.pos;
    let lo = 0;
    let shift = 0;
    while (shift < 28) {
      if (p >= end) {
        this.pos = p;
        this.truncated();
      }
      const b = buf[p++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = p;
        return lo >>> 0;
      }
      shift += 7;
    }
    this.pos = p;
    return this.varintRest(lo >>> 0);
  }

  /** int64 that must be exact as a JS number (versions, dims): E_MALFORMED beyond ±2^53. */
  safeInt64(what: string): number {
    const v = this.int64();
    if (typeof v === 'bigint') this.malformed(`${what} ${v} is out of range`);
    return v;
  }

  /** int64 as a number (precision loss above 2^53 is accepted). */
  int64Number(): number {
    const v = this.int64();
    return typeof v === 'bigint' ? Number(v) : v;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) this.truncated();
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
  float(): number {
    const bits = this.fixed32();
    F32_U32[0] = bits;
    return F32[0]!;
  }
  double(): number {
    if (this.pos + 8 > this.end) this.truncated();
    for (let i = 0; i < 8; i++) F64_U8[i] = this.buf[this.pos + i]!;
    this.pos += 8;
    return F64[0]!;
  }

  /** Length-delimited payload as a view (no copy). */
  bytes(): Uint8Array {
    const len = this.uint();
    if (len > this.end - this.pos) this.truncated();
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
  /** Start/end of a length-delimited payload, advancing past it. */
  span(): [number, number] {
    const len = this.uint();
    if (len > this.end - this.pos) this.truncated();
    const s = this.pos;
    this.pos += len;
    return [s, this.pos];
  }
  string(): string {
    const len = this.uint();
    if (len > this.end - this.pos) this.truncated();
    const s = this.pos;
    this.pos += len;
    return utf8Slice(this.buf, s, this.pos);
  }

  /** Wire type of the field last read by next(). */
  wt = 0;

  /** Read a field header: returns the field number and sets `wt` (no allocation on the hot path). */
  next(): number {
    const t = this.uint();
    const field = Math.floor(t / 8);
    this.wt = t & 7;
    if (field === 0) this.malformed('field number 0');
    return field;
  }

  /** Returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const field = this.next();
    return [field, this.wt];
  }

  /** A reader over the next length-delimited payload (a nested message), advancing past it. */
  message(what: string): WireReader {
    const len = this.uint();
    if (len > this.end - this.pos) this.truncated();
    const s = this.pos;
    this.pos += len;
    return new WireReader(this.buf, s, this.pos, what);
  }

  skip(wt: number): void {
    switch (wt) {
      case WireType.VARINT:
        this.int64();
        return;
      case WireType.I64:
        if (this.pos + 8 > this.end) this.truncated();
        this.pos += 8;
        return;
      case WireType.LEN: {
        this.span();
        return;
      }
      case WireType.I32:
        if (this.pos + 4 > this.end) this.truncated();
        this.pos += 4;
        return;
      default:
        this.malformed(`unsupported wire type ${wt}`);
    }
  }

  /** Skip a field and return its full record (tag included) as a view, for unknown fields. */
  skipRecord(tagStart: number, wt: number): Uint8Array {
    this.skip(wt);
    return this.buf.subarray(tagStart, this.pos);
  }

  sub(start: number, end: number, what: string): WireReader {
    return new WireReader(this.buf, start, end, what);
  }
}

const F32 = new Float32Array(1);
const F32_U32 = new Uint32Array(F32.buffer);
const F64 = new Float64Array(1);
const F64_U8 = new Uint8Array(F64.buffer);

function int64FromParts(lo: number, hi: number): number | bigint {
  if (hi < 0x200000) return hi * TWO32 + lo; // < 2^53
  if (hi >= 0x80000000) {
    // negative two's complement
    let nlo = (~lo >>> 0) + 1;
    let nhi = ~hi >>> 0;
    if (nlo === TWO32) {
      nlo = 0;
      nhi += 1;
    }
    if (nhi < 0x200000) return -(nhi * TWO32 + nlo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

const decoder = new TextDecoder();
function utf8Slice(buf: Uint8Array, s: number, e: number): string {
  // ASCII fast path: most ONNX names are short ASCII strings.
  if (e - s < 64) {
    let ascii = true;
    for (let i = s; i < e; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(s, e) as unknown as number[]);
  }
  return decoder.decode(buf.subarray(s, e));
}

// ---------------------------------------------------------------------------

const BLOCK = 64 * 1024;
const encoder = new TextEncoder();

interface Frame {
  /** The parent's sealed parts and their length. */
  parts: Uint8Array[];
  len: number;
  /** The parent's not-yet-sealed region is [sealed, start) of `block`; the child starts at `start`. */
  block: Uint8Array;
  sealed: number;
  start: number;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Write a non-negative safe-integer varint at b[p]; returns the next position. */
function putVarint(b: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    b[p++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[p++] = v;
  return p;
}

/**
 * Append-only writer. Small fields go into shared blocks; byte fields at or above
 * `refThreshold` are kept as references to the caller's memory. Nested messages use
 * fork()/finish() so a child's length is known before its header is written.
 */
export class WireWriter {
  private block = new Uint8Array(BLOCK);
  private pos = 0;
  /** Start of the not-yet-sealed region of `block`. */
  private sealed = 0;
  private parts: Uint8Array[] = [];
  private len = 0;
  private readonly stack: Frame[] = [];

  constructor(private readonly refThreshold = 4096) {}

  get length(): number {
    return this.len + (this.pos - this.sealed);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.block.length) return;
    this.seal();
    this.block = new Uint8Array(Math.max(BLOCK, n));
    this.pos = this.sealed = 0;
  }
  private seal(): void {
    if (this.pos > this.sealed) {
      this.parts.push(this.block.subarray(this.sealed, this.pos));
      this.len += this.pos - this.sealed;
      this.sealed = this.pos;
    }
  }

  uint(v: number): void {
    this.ensure(10);
    const b = this.block;
    let p = this.pos;
    if (v < 0x80) {
      b[p++] = v;
    } else if (v < TWO32) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    } else {
      let lo = v % TWO32 >>> 0;
      let hi = Math.floor(v / TWO32) >>> 0;
      while (hi > 0 || lo >= 0x80) {
        b[p++] = (lo & 0x7f) | 0x80;
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      b[p++] = lo;
    }
    this.pos = p;
  }
  int64(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) return this.uint(v);
    let u = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    const b = this.block;
    let p = this.pos;
    while (u >= 0x80n) {
      b[p++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    b[p++] = Number(u);
    this.pos = p;
  }
  tag(field: number, wt: number): void {
    this.uint(field * 8 + wt);
  }
  fixed32(v: number): void {
    this.ensure(4);
    const b = this.block;
    const p = this.pos;
    b[p] = v & 0xff;
    b[p + 1] = (v >>> 8) & 0xff;
    b[p + 2] = (v >>> 16) & 0xff;
    b[p + 3] = (v >>> 24) & 0xff;
    this.pos += 4;
  }
  float(v: number): void {
    F32[0] = v;
    this.fixed32(F32_U32[0]!);
  }
  double(v: number): void {
    F64[0] = v;
    this.raw(F64_U8.slice());
  }
  /** Raw bytes with no header (copied when small, referenced when large). */
  raw(b: Uint8Array): void {
    if (b.byteLength >= this.refThreshold) {
      this.seal();
      this.parts.push(b);
      this.len += b.byteLength;
      return;
    }
    this.ensure(b.byteLength);
    this.block.set(b, this.pos);
    this.pos += b.byteLength;
  }
  bytesField(field: number, b: Uint8Array): void {
    this.tag(field, WireType.LEN);
    this.uint(b.byteLength);
    this.raw(b);
  }
  stringField(field: number, s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short strings are encoded straight into the block (no temporary array): ASCII
      // by hand, others with encodeInto; the 1-byte length fits when the UTF-8 does.
      this.tag(field, WireType.LEN);
      this.ensure(1 + n * 3);
      const b = this.block;
      const lenAt = this.pos;
      let p = lenAt + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[lenAt] = n;
        this.pos = p;
        return;
      }
      const { written } = encoder.encodeInto(s, b.subarray(lenAt + 1, lenAt + 1 + n * 3));
      if (written < 0x80) {
        b[lenAt] = written;
        this.pos = lenAt + 1 + written;
        return;
      }
      const bytes = encoder.encode(s);
      this.uint(bytes.byteLength);
      this.raw(bytes);
      return;
    }
    this.bytesField(field, encoder.encode(s));
  }
  uintField(field: number, v: number): void {
    this.tag(field, WireType.VARINT);
    this.uint(v);
  }
  int64Field(field: number, v: number | bigint): void {
    this.tag(field, WireType.VARINT);
    this.int64(v);
  }

  /** Begin a nested message. */
  fork(): void {
    this.stack.push({ parts: this.parts, len: this.len, block: this.block, sealed: this.sealed, start: this.pos });
    this.parts = [];
    this.len = 0;
    this.sealed = this.pos;
  }
  /** End a nested message and emit it as field `field` of the parent. */
  finish(field: number): void {
    const frame = this.stack.pop();
    if (!frame) throw new Error('WireWriter.finish without fork');
    const tag = field * 8 + WireType.LEN;
    if (this.parts.length === 0 && this.block === frame.block) {
      // Common case: the child is contiguous in the current block. Shift it right and
      // put its header in front, so parent and child stay one region (no extra parts).
      const start = frame.start;
      const childLen = this.pos - start;
      const h = varintSize(tag) + varintSize(childLen);
      if (this.pos + h <= this.block.length) {
        const b = this.block;
        if (childLen) b.copyWithin(start + h, start, this.pos);
        putVarint(b, putVarint(b, start, tag), childLen);
        this.pos += h;
        this.parts = frame.parts;
        this.len = frame.len;
        this.sealed = frame.sealed;
        return;
      }
    }
    // The child spans blocks or holds referenced byte fields: emit the parent's pending
    // region, then the header, then the child's parts.
    this.seal();
    const childParts = this.parts;
    const childLen = this.len;
    this.parts = frame.parts;
    this.len = frame.len;
    if (frame.start > frame.sealed) {
      this.parts.push(frame.block.subarray(frame.sealed, frame.start));
      this.len += frame.start - frame.sealed;
    }
    this.uint(tag);
    this.uint(childLen);
    this.seal();
    for (const p of childParts) this.parts.push(p);
    this.len += childLen;
  }

  /** All bytes written, as parts (no copy). */
  finishParts(): { parts: Uint8Array[]; length: number } {
    if (this.stack.length) throw new Error('WireWriter: unbalanced fork');
    this.seal();
    return { parts: this.parts, length: this.len };
  }
}
