// The protobuf wire reader/writer on its own: varint edge cases, fixed-width fields,
// nested messages, bounds checks, and deterministic output.

import { describe, expect, it } from 'vitest';
import { SplitcError } from '../../src/ir/errors.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { WireReader, WireType, WireWriter } from '../../src/ir/serde/wire.js';
import { resnet18 } from '../helpers/models.js';

function bytesOf(write: (w: WireWriter) => void, refThreshold?: number): Uint8Array {
  const w = refThreshold === undefined ? new WireWriter() : new WireWriter(refThreshold);
  write(w);
  const { parts, length } = w.finishParts();
  expect(parts.reduce((a, p) => a + p.byteLength, 0)).toBe(length);
  return concatBytes(parts, length);
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SplitcError) return e.code;
    throw e;
  }
  return 'ok';
};

/** Reference varint encoding of a uint64 (two's complement for negatives), by BigInt. */
function refVarint(v: bigint): string {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u) b |= 0x80;
    out.push(b);
  } while (u);
  return Buffer.from(out).toString('hex');
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

describe('varints', () => {
  const unsigned = [0, 1, 127, 128, 255, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 49, 2 ** 53 - 1];
  it.each(unsigned)('uint %d: writer matches the reference encoding and the reader returns it', (v) => {
    const b = bytesOf((w) => w.uint(v));
    expect(hex(b)).toBe(refVarint(BigInt(v)));
    const r = new WireReader(b);
    expect(r.uint()).toBe(v);
    expect(r.done()).toBe(true);
    const r2 = new WireReader(b);
    expect(r2.int64()).toBe(v);
  });

  it('uint: byte lengths at the 7-bit boundaries', () => {
    expect(hex(bytesOf((w) => w.uint(0)))).toBe('00');
    expect(hex(bytesOf((w) => w.uint(127)))).toBe('7f');
    expect(hex(bytesOf((w) => w.uint(128)))).toBe('8001');
    expect(bytesOf((w) => w.uint(2 ** 31)).byteLength).toBe(5);
    expect(bytesOf((w) => w.uint(2 ** 32)).byteLength).toBe(5);
    expect(bytesOf((w) => w.uint(2 ** 53 - 1)).byteLength).toBe(8);
  });

  const signed: bigint[] = [0n, 1n, -1n, -2n, 127n, 128n, -128n, 2n ** 31n, -(2n ** 31n), 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) + 1n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 62n, INT64_MAX, INT64_MIN, INT64_MIN + 1n];
  it.each(signed)('int64 %s round-trips (number when safe, bigint beyond)', (v) => {
    for (const input of [v, Number.isSafeInteger(Number(v)) ? Number(v) : v]) {
      const b = bytesOf((w) => w.int64(input));
      expect(hex(b)).toBe(refVarint(v));
      expect(b.byteLength).toBe(v < 0n ? 10 : b.byteLength);
      const got = new WireReader(b).int64();
      if (v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n) expect(got).toBe(Number(v));
      else expect(got).toBe(v);
    }
  });

  it('uint() rejects negative and > 2^53 varints as E_MALFORMED (they are never valid lengths)', () => {
    expect(codeOf(() => new WireReader(bytesOf((w) => w.int64(-1))).uint())).toBe('E_MALFORMED');
    expect(codeOf(() => new WireReader(bytesOf((w) => w.int64(2n ** 53n))).uint())).toBe('E_MALFORMED');
    expect(codeOf(() => new WireReader(bytesOf((w) => w.int64(INT64_MAX))).uint())).toBe('E_MALFORMED');
  });

  it('varints longer than 10 bytes are E_MALFORMED; unterminated ones E_TRUNCATED', () => {
    const eleven = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(codeOf(() => new WireReader(eleven).int64())).toBe('E_MALFORMED');
    expect(codeOf(() => new WireReader(eleven).uint())).toBe('E_MALFORMED');
    for (let n = 1; n <= 9; n++) {
      const open = new Uint8Array(n).fill(0x80);
      expect(codeOf(() => new WireReader(open).int64()), `${n} continuation bytes`).toBe('E_TRUNCATED');
      expect(codeOf(() => new WireReader(open).uint())).toBe('E_TRUNCATED');
    }
    // a 10th byte that still continues is already too long, whatever follows
    expect(codeOf(() => new WireReader(new Uint8Array(10).fill(0x80)).int64())).toBe('E_MALFORMED');
    expect(codeOf(() => new WireReader(new Uint8Array(0)).uint())).toBe('E_TRUNCATED');
  });

  it('non-canonical (padded) varints decode to the same value', () => {
    expect(new WireReader(Uint8Array.from([0x81, 0x80, 0x80, 0x00])).uint()).toBe(1);
    expect(new WireReader(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])).int64()).toBe(0);
  });

  it('the 10th byte only contributes its lowest bit (as protobuf does)', () => {
    // 9 × 0xff then 0x7f: bits beyond 64 are dropped → -1
    const b = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(new WireReader(b).int64()).toBe(-1);
  });

  it('a seeded sweep of random int64 values round-trips exactly', () => {
    let s = 0x12345678n;
    const next = (): bigint => {
      s = BigInt.asUintN(64, s * 6364136223846793005n + 1442695040888963407n);
      return BigInt.asIntN(64, s >> BigInt(Number(s & 63n)));
    };
    for (let i = 0; i < 2000; i++) {
      const v = next();
      const b = bytesOf((w) => w.int64(v));
      const got = new WireReader(b).int64();
      expect(BigInt(got)).toBe(v);
    }
  });
});

describe('fields', () => {
  it('tags, fixed32, float, double and strings', () => {
    const b = bytesOf((w) => {
      w.uintField(1, 150);
      w.tag(2, WireType.I32);
      w.float(1.5);
      w.tag(3, WireType.I64);
      w.double(-Math.PI);
      w.stringField(4, 'héllo');
      w.tag(5, WireType.I32);
      w.fixed32(0xdeadbeef);
    });
    expect(hex(b.subarray(0, 3))).toBe('089601'); // the protobuf docs' example
    const r = new WireReader(b);
    expect(r.tag()).toEqual([1, WireType.VARINT]);
    expect(r.uint()).toBe(150);
    expect(r.tag()).toEqual([2, WireType.I32]);
    expect(r.float()).toBe(1.5);
    expect(r.tag()).toEqual([3, WireType.I64]);
    expect(r.double()).toBe(-Math.PI);
    expect(r.tag()).toEqual([4, WireType.LEN]);
    expect(r.string()).toBe('héllo');
    expect(r.tag()).toEqual([5, WireType.I32]);
    expect(r.fixed32()).toBe(0xdeadbeef);
    expect(r.done()).toBe(true);
  });

  it('large field numbers and field number 0', () => {
    const b = bytesOf((w) => w.uintField(536870911, 1)); // max field number 2^29-1
    expect(new WireReader(b).tag()).toEqual([536870911, WireType.VARINT]);
    expect(codeOf(() => new WireReader(Uint8Array.from([0x00])).tag())).toBe('E_MALFORMED');
  });

  it('skip() handles every wire type and rejects groups and types 6/7', () => {
    const b = bytesOf((w) => {
      w.int64Field(1, -1);
      w.tag(2, WireType.I64);
      w.double(1);
      w.stringField(3, 'abc');
      w.tag(4, WireType.I32);
      w.fixed32(7);
    });
    const r = new WireReader(b);
    for (let i = 0; i < 4; i++) {
      const [, wt] = r.tag();
      r.skip(wt);
    }
    expect(r.done()).toBe(true);
    for (const wt of [3, 4, 6, 7]) expect(codeOf(() => new WireReader(new Uint8Array(8)).skip(wt))).toBe('E_MALFORMED');
  });

  it('length-delimited fields are bounds-checked against the enclosing message, not the buffer', () => {
    const b = bytesOf((w) => {
      w.fork();
      w.stringField(1, 'inner');
      w.finish(1);
      w.stringField(2, 'after');
    });
    const r = new WireReader(b);
    r.tag();
    const [s, e] = r.span();
    const inner = r.sub(s, e, 'inner');
    inner.tag();
    expect(inner.string()).toBe('inner');
    expect(inner.done()).toBe(true);
    // a sub-reader whose length claims one byte more than its message cannot read past it
    const tight = r.sub(s, s + 3, 'tight');
    tight.tag();
    expect(codeOf(() => tight.string())).toBe('E_TRUNCATED');
    // fixed-width reads past the end
    expect(codeOf(() => new WireReader(new Uint8Array(3)).fixed32())).toBe('E_TRUNCATED');
    expect(codeOf(() => new WireReader(new Uint8Array(7)).double())).toBe('E_TRUNCATED');
    expect(codeOf(() => new WireReader(Uint8Array.from([0x05, 1, 2])).bytes())).toBe('E_TRUNCATED');
  });

  it('bytes() is a view into the input (zero copy)', () => {
    const b = bytesOf((w) => w.bytesField(1, new Uint8Array(100).fill(7)));
    const r = new WireReader(b);
    r.tag();
    const v = r.bytes();
    expect(v.buffer).toBe(b.buffer);
    expect(v.byteLength).toBe(100);
  });

  it('nested fork/finish compute lengths, including children larger than one block', () => {
    const big = new Uint8Array(200_000).fill(1);
    const b = bytesOf((w) => {
      w.fork();
      w.fork();
      w.bytesField(1, big);
      w.uintField(2, 5);
      w.finish(3);
      w.finish(4);
    });
    const r = new WireReader(b);
    expect(r.tag()).toEqual([4, WireType.LEN]);
    const [s, e] = r.span();
    expect(r.done()).toBe(true);
    const m = r.sub(s, e, 'm');
    expect(m.tag()).toEqual([3, WireType.LEN]);
    const [s2, e2] = m.span();
    const m2 = m.sub(s2, e2, 'm2');
    m2.tag();
    expect(m2.bytes().every((x) => x === 1)).toBe(true);
    m2.tag();
    expect(m2.uint()).toBe(5);
  });

  it('large byte fields are referenced, not copied; small ones are copied', () => {
    const big = new Uint8Array(10_000);
    const w = new WireWriter(4096);
    w.bytesField(1, big);
    w.bytesField(2, new Uint8Array(10));
    const { parts } = w.finishParts();
    expect(parts.some((p) => p === big)).toBe(true);
    expect(parts.filter((p) => p.buffer === big.buffer)).toHaveLength(1);
  });

  it('finish without fork and unbalanced forks are internal errors', () => {
    const w = new WireWriter();
    expect(() => w.finish(1)).toThrow();
    const w2 = new WireWriter();
    w2.fork();
    expect(() => w2.finishParts()).toThrow();
  });
});

describe('writer vs a reference encoder on random message trees', () => {
  type Item = { kind: 'msg'; field: number; children: Item[] } | { kind: 'str'; field: number; s: string } | { kind: 'bytes'; field: number; b: Uint8Array } | { kind: 'int'; field: number; v: bigint };
  function refEncode(items: Item[]): number[] {
    const out: number[] = [];
    const varint = (v: bigint) => {
      for (const c of Buffer.from(refVarint(v), 'hex')) out.push(c);
    };
    for (const it of items) {
      if (it.kind === 'int') {
        varint(BigInt(it.field * 8));
        varint(it.v);
        continue;
      }
      const payload = it.kind === 'msg' ? refEncode(it.children) : it.kind === 'str' ? [...new TextEncoder().encode(it.s)] : [...it.b];
      varint(BigInt(it.field * 8 + 2));
      varint(BigInt(payload.length));
      for (const c of payload) out.push(c);
    }
    return out;
  }
  function write(w: WireWriter, items: Item[]): void {
    for (const it of items) {
      if (it.kind === 'int') w.int64Field(it.field, it.v);
      else if (it.kind === 'str') w.stringField(it.field, it.s);
      else if (it.kind === 'bytes') w.bytesField(it.field, it.b);
      else {
        w.fork();
        write(w, it.children);
        w.finish(it.field);
      }
    }
  }
  it('produces identical bytes for 300 seeded trees (small and block-spanning children, refs, unicode)', () => {
    let seed = 7;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 4294967296;
    };
    const pieces = ['a', 'é', '✓', '𝄞', 'name_', '/', ''];
    const gen = (depth: number): Item[] =>
      Array.from({ length: Math.floor(rnd() * 6) }, (): Item => {
        const field = 1 + Math.floor(rnd() * (rnd() < 0.1 ? 5000 : 15));
        const r = rnd();
        if (r < 0.4 && depth < 5) return { kind: 'msg', field, children: gen(depth + 1) };
        if (r < 0.55) {
          const n = rnd() < 0.2 ? 40 + Math.floor(rnd() * 200) : Math.floor(rnd() * 20);
          return { kind: 'str', field, s: Array.from({ length: n }, () => pieces[Math.floor(rnd() * pieces.length)]).join('') };
        }
        if (r < 0.75) {
          const big = rnd() < 0.15;
          const n = big ? 4096 + Math.floor(rnd() * 70_000) : rnd() < 0.3 ? 1000 + Math.floor(rnd() * 3000) : Math.floor(rnd() * 300); // refs, copies that fill blocks, small
          return { kind: 'bytes', field, b: Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff) };
        }
        return { kind: 'int', field, v: BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 32)) * BigInt(Math.floor(rnd() * 2 ** 32)) - (rnd() < 0.3 ? 2n ** 62n : 0n)) };
      });
    for (let t = 0; t < 300; t++) {
      const items = gen(0);
      const expected = Buffer.from(refEncode(items));
      const got = Buffer.from(bytesOf((w) => write(w, items)));
      expect(got.equals(expected), `tree ${t}`).toBe(true);
    }
  });
});

describe('determinism', () => {
  it('the same IR serializes to identical bytes, also through a re-read', () => {
    const m = resnet18({ size: 32, classes: 10 });
    const a = modelToBytes(m);
    const b = modelToBytes(m);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const c = modelToBytes(deserializeModel(a));
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(true);
    // a freshly built identical model too (no hidden state such as counters or Map order)
    const d = modelToBytes(resnet18({ size: 32, classes: 10 }));
    expect(Buffer.from(d).equals(Buffer.from(a))).toBe(true);
  });
});
