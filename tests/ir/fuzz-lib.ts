// Seeded mutation fuzzing of ONNX files. Mutations: bit flips, byte overwrites,
// truncations, protobuf length-field corruption and wire-type changes (fields found by
// walking the wire structure). The per-case check is a list of steps (`CASE_STEPS`) so
// later passes can be appended (shape inference and cost annotation are); every step must
// either succeed or throw a SplitcError — anything else is a bug.

import * as fs from 'node:fs';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { type ErrorCode, SplitcError } from '../../src/ir/errors.js';
import { AttrType, Graph, type IrFunction, type Model, Node, tensorType, Value } from '../../src/ir/graph.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { FieldStorage, TensorField } from '../../src/ir/serde/storage.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { WireWriter } from '../../src/ir/serde/wire.js';
import { MemoryStorage, Tensor } from '../../src/ir/tensor.js';
import { assertValid } from '../../src/ir/verify.js';
import { hoistConstants } from '../../src/passes/hoist-constants.js';
import { annotateCost } from '../../src/passes/cost.js';
import { PassContext } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';

// --- PRNG ------------------------------------------------------------------

/** mulberry32: small, fast, good enough for picking mutations; fully determined by the seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Seed of case `index` in a run seeded with `runSeed` (so any single case can be replayed). */
export function caseSeed(runSeed: number, index: number): number {
  return (Math.imul(runSeed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

// --- wire structure --------------------------------------------------------

/** A field found by walking the protobuf structure. */
export interface WireField {
  tagPos: number;
  tagLen: number;
  wireType: number;
  /** LEN fields: where the length varint starts and how many bytes it has. */
  lenPos: number;
  lenBytes: number;
  payloadStart: number;
  payloadEnd: number;
  depth: number;
  /** Index of the enclosing LEN field in the walk's output, -1 at top level. */
  parent: number;
  /** Number of direct children when the payload parsed as a message (0: a leaf). */
  children: number;
}

function readVarint(buf: Uint8Array, p: number, end: number): [value: number, next: number] | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) return null;
    const b = buf[p++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, p];
    mul *= 128;
  }
  return null;
}

/**
 * All fields of the message in [start, end) and, recursively, of every length-delimited
 * payload that itself parses as a message (strings and raw tensor data usually do not).
 * Pre-order: a field comes before its children.
 */
export function walkFields(buf: Uint8Array, start = 0, end = buf.byteLength, maxDepth = 12): WireField[] {
  const out: WireField[] = [];
  if (!walk(buf, start, end, 0, -1, maxDepth, out)) return [];
  return out;
}

function walk(buf: Uint8Array, start: number, end: number, depth: number, parent: number, maxDepth: number, out: WireField[]): boolean {
  const mark = out.length;
  let p = start;
  while (p < end) {
    const tagPos = p;
    const t = readVarint(buf, p, end);
    if (!t) return fail(out, mark);
    const [tag, afterTag] = t;
    const field = Math.floor(tag / 8);
    const wt = tag % 8;
    if (field === 0 || field > 536870911) return fail(out, mark);
    p = afterTag;
    const f: WireField = { tagPos, tagLen: afterTag - tagPos, wireType: wt, lenPos: -1, lenBytes: 0, payloadStart: p, payloadEnd: p, depth, parent, children: 0 };
    if (wt === 0) {
      const v = readVarint(buf, p, end);
      if (!v) return fail(out, mark);
      p = v[1];
    } else if (wt === 1) p += 8;
    else if (wt === 5) p += 4;
    else if (wt === 2) {
      const l = readVarint(buf, p, end);
      if (!l) return fail(out, mark);
      f.lenPos = p;
      f.lenBytes = l[1] - p;
      p = l[1];
      if (l[0] > end - p) return fail(out, mark);
      f.payloadStart = p;
      p += l[0];
    } else return fail(out, mark);
    if (p > end) return fail(out, mark);
    f.payloadEnd = p;
    const idx = out.length;
    out.push(f);
    if (parent >= 0) out[parent]!.children++;
    if (wt === 2 && depth < maxDepth && f.payloadEnd - f.payloadStart >= 2) {
      walk(buf, f.payloadStart, f.payloadEnd, depth + 1, idx, maxDepth, out);
    }
  }
  return true;
}

function fail(out: WireField[], mark: number): false {
  if (mark > 0) {
    // undo child counts of the fields being dropped
    for (let i = mark; i < out.length; i++) {
      const par = out[i]!.parent;
      if (par >= 0 && par < mark) out[par]!.children--;
    }
  }
  out.length = mark;
  return false;
}

// --- mutations ---------------------------------------------------------------

export type MutationKind =
  | 'bitflip'
  | 'overwrite'
  | 'truncate'
  | 'length'
  | 'wiretype'
  // structure-preserving: enclosing lengths are fixed up, so the file still parses
  | 'varint'
  | 'bytes'
  | 'duplicate'
  | 'delete'
  | 'swap'
  | 'transplant';

export interface Mutation {
  kind: MutationKind;
  /** Human-readable description for failure reports. */
  what: string;
  bytes: Uint8Array;
}

/** Encode v (>= 0, < 2^64) as a varint of exactly n bytes when possible (padding with continuation bytes). */
function varintBytes(v: bigint, n: number): Uint8Array {
  const canonical: number[] = [];
  let u = v;
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u) b |= 0x80;
    canonical.push(b);
  } while (u);
  if (canonical.length >= n) return Uint8Array.from(canonical);
  const padded = canonical.slice();
  padded[padded.length - 1]! |= 0x80;
  while (padded.length < n - 1) padded.push(0x80);
  padded.push(0x00);
  return Uint8Array.from(padded);
}

function splice(buf: Uint8Array, at: number, removeLen: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(buf.byteLength - removeLen + insert.byteLength);
  out.set(buf.subarray(0, at), 0);
  out.set(insert, at);
  out.set(buf.subarray(at + removeLen), at + insert.byteLength);
  return out;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x3a];

/** Apply one mutation of the given kind (fields: walkFields of `src`, computed once per source). */
export function mutate(src: Uint8Array, fields: readonly WireField[], kind: MutationKind, rng: Rng): Mutation {
  const n = src.byteLength;
  switch (kind) {
    case 'bitflip': {
      const out = Uint8Array.from(src);
      const flips = 1 + rng.int(8);
      const where: number[] = [];
      for (let i = 0; i < flips; i++) {
        // half of the flips land in structure (tags/lengths), half anywhere
        const pos = rng.next() < 0.5 && fields.length ? structuralPos(rng.pick(fields), rng) : rng.int(n);
        const bit = rng.int(8);
        out[pos]! ^= 1 << bit;
        where.push(pos * 8 + bit);
      }
      return { kind, what: `flip bits ${where.join(',')}`, bytes: out };
    }
    case 'overwrite': {
      const out = Uint8Array.from(src);
      const count = 1 + rng.int(4);
      const at = rng.next() < 0.5 && fields.length ? structuralPos(rng.pick(fields), rng) : rng.int(n);
      const vals: number[] = [];
      for (let i = 0; i < count && at + i < n; i++) {
        const v = rng.next() < 0.5 ? rng.pick(INTERESTING_BYTES) : rng.int(256);
        out[at + i] = v;
        vals.push(v);
      }
      return { kind, what: `overwrite at ${at} with [${vals.join(',')}]`, bytes: out };
    }
    case 'truncate': {
      // biased towards field boundaries half of the time
      const at = rng.next() < 0.5 && fields.length ? rng.pick(fields)[rng.next() < 0.5 ? 'payloadStart' : 'tagPos'] + rng.int(3) : rng.int(n);
      const cut = Math.min(at, n - 1);
      return { kind, what: `truncate to ${cut} bytes`, bytes: src.slice(0, cut) };
    }
    case 'length': {
      const lens = fields.filter((f) => f.wireType === 2);
      if (!lens.length) return mutate(src, fields, 'bitflip', rng);
      const f = rng.pick(lens);
      const len = f.payloadEnd - f.payloadStart;
      const choices: bigint[] = [
        BigInt(len + 1),
        BigInt(Math.max(0, len - 1)),
        BigInt(len + 1 + rng.int(64)),
        BigInt(Math.max(0, len - 1 - rng.int(64))),
        0n,
        BigInt(len * 2),
        BigInt(Math.floor(len / 2)),
        2n ** 31n - 1n,
        2n ** 32n + 5n,
        2n ** 53n - 1n,
        2n ** 64n - 1n, // -1 as a varint
        BigInt(n),
      ];
      const v = rng.pick(choices);
      const enc = varintBytes(v, f.lenBytes);
      return { kind, what: `length of field at ${f.tagPos} (depth ${f.depth}) ${len} → ${v}`, bytes: splice(src, f.lenPos, f.lenBytes, enc) };
    }
    case 'varint':
    case 'bytes':
    case 'duplicate':
    case 'delete':
    case 'swap':
    case 'transplant': {
      for (let attempt = 0; attempt < 8 && fields.length; attempt++) {
        const m = structuralMutation(src, fields, kind, rng);
        if (m) return m;
      }
      return mutate(src, fields, 'bitflip', rng);
    }
    case 'wiretype': {
      if (!fields.length) return mutate(src, fields, 'bitflip', rng);
      const f = rng.pick(fields);
      const out = Uint8Array.from(src);
      let wt = rng.int(8);
      if (wt === f.wireType) wt = (wt + 1) % 8;
      out[f.tagPos] = (out[f.tagPos]! & ~7) | wt;
      return { kind, what: `wire type of field at ${f.tagPos} ${f.wireType} → ${wt}`, bytes: out };
    }
  }
}

/** Ancestor LEN fields of field `i` (innermost first), optionally including `i` itself. */
export function ancestors(fields: readonly WireField[], i: number, self: boolean): WireField[] {
  const out: WireField[] = [];
  for (let j = self ? i : fields[i]!.parent; j >= 0; j = fields[j]!.parent) out.push(fields[j]!);
  return out;
}

/** Replace [start, end) by `insert` and fix the lengths of `chain` (innermost first, all enclosing the range). */
export function rewrite(src: Uint8Array, start: number, end: number, insert: Uint8Array, chain: readonly WireField[]): Uint8Array {
  let out = splice(src, start, end - start, insert);
  let delta = insert.byteLength - (end - start);
  for (const a of chain) {
    const enc = varintBytes(BigInt(a.payloadEnd - a.payloadStart + delta), a.lenBytes);
    out = splice(out, a.lenPos, a.lenBytes, enc);
    delta += enc.byteLength - a.lenBytes;
  }
  return out;
}

const INTERESTING_INTS: bigint[] = [0n, 1n, 2n, 3n, 7n, 8n, 9n, 13n, 16n, 17n, 255n, 2n ** 31n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 64n - 2n];

function structuralMutation(src: Uint8Array, fields: readonly WireField[], kind: MutationKind, rng: Rng): Mutation | null {
  const record = (f: WireField): [number, number] => [f.tagPos, f.payloadEnd];
  const idxs = (pred: (f: WireField) => boolean): number[] => {
    const r: number[] = [];
    fields.forEach((f, i) => pred(f) && r.push(i));
    return r;
  };
  switch (kind) {
    case 'varint': {
      const cands = idxs((f) => f.wireType === 0);
      if (!cands.length) return null;
      const i = rng.pick(cands);
      const f = fields[i]!;
      const old = readVarint(src, f.payloadStart, f.payloadEnd)![0];
      const v = rng.next() < 0.7 ? rng.pick(INTERESTING_INTS) : BigInt(Math.max(0, old + rng.int(5) - 2));
      return { kind, what: `varint at ${f.tagPos} ${old} → ${v}`, bytes: rewrite(src, f.payloadStart, f.payloadEnd, varintBytes(v, 1), ancestors(fields, i, false)) };
    }
    case 'bytes': {
      const leaves = idxs((f) => f.wireType === 2 && f.children === 0 && f.payloadEnd - f.payloadStart < 256);
      if (!leaves.length) return null;
      const i = rng.pick(leaves);
      const f = fields[i]!;
      const r = rng.next();
      let insert: Uint8Array;
      let what: string;
      if (r < 0.5) {
        // another string of the file: creates name clashes, self-references, cycles
        const other = fields[rng.pick(leaves)]!;
        insert = src.slice(other.payloadStart, other.payloadEnd);
        what = `string at ${f.tagPos} ← copy of string at ${other.tagPos}`;
      } else if (r < 0.65) {
        insert = new Uint8Array(0);
        what = `string at ${f.tagPos} emptied`;
      } else if (r < 0.8) {
        insert = src.slice(f.payloadStart, f.payloadEnd);
        if (insert.byteLength) insert[rng.int(insert.byteLength)] = rng.pick([0x00, 0x2e, 0x2f, 0x80, 0xff, 0x41]);
        what = `string at ${f.tagPos} one byte changed`;
      } else {
        insert = Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256));
        what = `string at ${f.tagPos} ← random bytes`;
      }
      return { kind, what, bytes: rewrite(src, f.payloadStart, f.payloadEnd, insert, ancestors(fields, i, true)) };
    }
    case 'duplicate': {
      const i = rng.int(fields.length);
      const [a, b] = record(fields[i]!);
      const copy = src.slice(a, b);
      const both = new Uint8Array(copy.byteLength * 2);
      both.set(copy, 0);
      both.set(copy, copy.byteLength);
      return { kind, what: `duplicate field at ${a} (depth ${fields[i]!.depth})`, bytes: rewrite(src, a, b, both, ancestors(fields, i, false)) };
    }
    case 'delete': {
      const i = rng.int(fields.length);
      const [a, b] = record(fields[i]!);
      return { kind, what: `delete field at ${a} (depth ${fields[i]!.depth})`, bytes: rewrite(src, a, b, new Uint8Array(0), ancestors(fields, i, false)) };
    }
    case 'swap': {
      // two adjacent siblings (e.g. nodes: out-of-order lists must be sorted or rejected)
      const i = rng.int(fields.length);
      const f = fields[i]!;
      let j = i + 1;
      while (j < fields.length && fields[j]!.tagPos < f.payloadEnd) j++; // skip f's descendants
      const g = fields[j];
      if (!g || g.parent !== f.parent) return null;
      const out = Uint8Array.from(src);
      const first = src.slice(f.tagPos, f.payloadEnd);
      const second = src.slice(g.tagPos, g.payloadEnd);
      out.set(second, f.tagPos);
      out.set(first, f.tagPos + second.byteLength);
      return { kind, what: `swap fields at ${f.tagPos} and ${g.tagPos}`, bytes: out };
    }
    case 'transplant': {
      const parents = idxs((f) => f.children > 0);
      if (!parents.length) return null;
      const pi = rng.pick(parents);
      const p = fields[pi]!;
      const i = rng.int(fields.length);
      const [a, b] = record(fields[i]!);
      if (b - a > 1 << 20) return null;
      const copy = src.slice(a, b);
      return { kind, what: `copy field at ${a} into message at ${p.tagPos}`, bytes: rewrite(src, p.payloadEnd, p.payloadEnd, copy, ancestors(fields, pi, true)) };
    }
    default:
      return null;
  }
}

function structuralPos(f: WireField, rng: Rng): number {
  if (f.lenBytes && rng.next() < 0.6) return f.lenPos + rng.int(f.lenBytes);
  return f.tagPos + rng.int(f.tagLen);
}

// --- per-case check ---------------------------------------------------------

export interface CaseStep {
  name: string;
  run(model: Model, ctx: { baseDir: string }): void;
}

/**
 * What each case does after `deserializeModel`. Append steps here (e.g. shape inference,
 * cost annotation) to fuzz them too: each must succeed or throw a SplitcError.
 */
export const CASE_STEPS: CaseStep[] = [
  { name: 'verify', run: (m) => assertValid(m) },
  { name: 'hoist-constants', run: (m) => void hoistConstants(m) },
  // as the pass manager does in tests: verify after every pass
  { name: 'verify-after-hoist', run: (m) => assertValid(m) },
  {
    name: 'serialize',
    run: (m) => {
      const out = modelToBytes(m);
      // A model that loaded and verified must re-load and verify from its own bytes,
      // and re-serialize to the same bytes: a failure here is a reader/writer bug.
      let again: Model;
      try {
        again = deserializeModel(out, { baseDir: '/nonexistent-splitc-fuzz' });
        assertValid(again);
      } catch (e) {
        throw new FuzzBug(`re-reading the re-serialized model failed: ${(e as Error).message}`, e);
      }
      const out2 = modelToBytes(again);
      if (!Buffer.from(out2).equals(Buffer.from(out))) throw new FuzzBug('re-serialization is not a fixed point');
    },
  },
  // what `splitc inspect` runs next
  { name: 'shape-infer', run: (m) => void inferShapes(m, { ctx: new PassContext() }) },
  { name: 'verify-after-shape-infer', run: (m) => assertValid(m) },
  {
    name: 'cost',
    run: (m) => {
      const r = annotateCost(m);
      const t = r.totals;
      for (const [k, v] of Object.entries(t)) {
        if (typeof v === 'number' && !(v >= 0)) throw new FuzzBug(`cost total ${k} is ${v}`);
      }
    },
  },
];

/** A property violation found by a step (never a valid SplitcError outcome). */
export class FuzzBug extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'FuzzBug';
  }
}

export type CaseOutcome = { ok: true } | { ok: false; code: ErrorCode; step: string };

/** Deserialize and run the steps. Returns success or the SplitcError code; rethrows anything else. */
export function checkCase(bytes: Uint8Array, opts: { baseDir: string; steps?: CaseStep[] }): CaseOutcome {
  let step = 'deserialize';
  try {
    const m = deserializeModel(bytes, { baseDir: opts.baseDir, source: 'fuzz case' });
    for (const s of opts.steps ?? CASE_STEPS) {
      step = s.name;
      s.run(m, { baseDir: opts.baseDir });
    }
    return { ok: true };
  } catch (e) {
    if (e instanceof SplitcError) return { ok: false, code: e.code, step };
    if (e instanceof Error) e.message = `[step ${step}] ${e.message}`;
    throw e;
  }
}

// --- sources and plan --------------------------------------------------------

export interface FuzzSource {
  name: string;
  bytes: Uint8Array;
  /** How many cases to derive from this source. */
  cases: number;
}

export interface FuzzPlan {
  seed: number;
  sources: FuzzSource[];
  /** Relative weights of mutation kinds. */
  weights?: Partial<Record<MutationKind, number>>;
}

const DEFAULT_WEIGHTS: Record<MutationKind, number> = {
  bitflip: 15,
  overwrite: 10,
  truncate: 8,
  length: 15,
  wiretype: 5,
  varint: 10,
  bytes: 12,
  duplicate: 8,
  delete: 8,
  swap: 4,
  transplant: 5,
};

/** Sources up to this size get stacked mutations (re-walking bigger files costs too much). */
const STACK_MAX_BYTES = 1 << 20;

export interface FuzzCase {
  index: number;
  seed: number;
  source: string;
  mutation: Mutation;
}

/** Cases of a plan, generated lazily and reproducibly (case i depends only on seed, i and its source). */
export function* fuzzCases(plan: FuzzPlan, from = 0): Generator<FuzzCase> {
  const weights = { ...DEFAULT_WEIGHTS, ...plan.weights };
  const kinds = Object.keys(weights) as MutationKind[];
  const total = kinds.reduce((a, k) => a + weights[k], 0);
  const pickKind = (rng: Rng): MutationKind => {
    let r = rng.next() * total;
    for (const k of kinds) if ((r -= weights[k]) < 0) return k;
    return kinds[kinds.length - 1]!;
  };
  const fieldCache = new Map<string, WireField[]>();
  let index = 0;
  for (const src of plan.sources) {
    let fields = fieldCache.get(src.name);
    if (!fields) fieldCache.set(src.name, (fields = walkFields(src.bytes)));
    for (let i = 0; i < src.cases; i++, index++) {
      if (index < from) continue;
      const seed = caseSeed(plan.seed, index);
      const rng = new Rng(seed);
      const kind = pickKind(rng);
      let mutation = mutate(src.bytes, fields, kind, rng);
      // A fifth of the cases on small sources stack two or three mutations (re-walking
      // the structure in between), to get past the first layer of checks.
      if (src.bytes.byteLength <= STACK_MAX_BYTES && rng.next() < 0.2) {
        for (let extra = 1 + rng.int(2); extra > 0; extra--) {
          const k2 = pickKind(rng);
          const m2 = mutate(mutation.bytes, walkFields(mutation.bytes), k2, rng);
          mutation = { kind: mutation.kind, what: `${mutation.what}; then ${k2}: ${m2.what}`, bytes: m2.bytes };
        }
      }
      yield { index, seed, source: src.name, mutation };
    }
  }
}

/** Regenerate one case of a plan (to replay a failure reported by index). */
export function caseAt(plan: FuzzPlan, index: number): FuzzCase | undefined {
  for (const c of fuzzCases(plan, index)) return c;
  return undefined;
}

export function loadSource(name: string, file: string, cases: number): FuzzSource {
  const b = fs.readFileSync(file);
  return { name, bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), cases };
}

/**
 * A small model touching the reader's less common paths: If/Loop subgraphs with outer
 * references, a model-local function, typed-field, string and int64 tensors, metadata.
 */
export function syntheticSource(cases: number): FuzzSource {
  const b = new GraphBuilder('fuzz_synthetic');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const cond = b.input('cond', DataType.BOOL, []);
  const w = b.weight('w', [4, 4], 11);
  const rec = new WireWriter();
  rec.fork();
  for (const v of [1.5, -2, 0.25, 8]) rec.float(v);
  rec.finish(TensorField.FLOAT);
  const { parts, length } = rec.finishParts();
  const fieldT = b.graph.addInitializer(
    new Value('fb', tensorType(DataType.FLOAT, [4])),
    new Tensor('fb', DataType.FLOAT, [4], new FieldStorage(DataType.FLOAT, TensorField.FLOAT, [concatBytes(parts, length)])),
  );
  const strs = b.graph.addInitializer(
    new Value('labels', tensorType(DataType.STRING, [2])),
    new Tensor('labels', DataType.STRING, [2], new MemoryStorage(new Uint8Array(0)), [new TextEncoder().encode('a'), new TextEncoder().encode('bc')]),
  );
  const h = b.op('MatMul', [x, w], {}, { outputNames: ['h'] });
  const tb = new GraphBuilder('then');
  tb.output(tb.op('Add', [h, fieldT], {}, { outputNames: ['t_out'] }), { dtype: DataType.FLOAT, shape: ['N', 4] });
  const eb = new GraphBuilder('else');
  eb.output(eb.op('Neg', [h], {}, { outputNames: ['e_out'] }), { dtype: DataType.FLOAT, shape: ['N', 4] });
  const y = b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { outputNames: ['y'] });
  const body = new GraphBuilder('body');
  body.input('i', DataType.INT64, []);
  const ci = body.input('c', DataType.BOOL, []);
  const vi = body.input('v', DataType.FLOAT, ['N', 4]);
  body.output(body.op('Identity', [ci], {}, { outputNames: ['c_out'] }), { dtype: DataType.BOOL, shape: [] });
  body.output(body.op('Add', [vi, y], {}, { outputNames: ['v_out'] }), { dtype: DataType.FLOAT, shape: ['N', 4] });
  const trip = b.constant('trip', DataType.INT64, [], [3]);
  const looped = b.op('Loop', [trip, cond, y], { body: body.graph }, { outputNames: ['looped'] });
  const sliced = b.op('Slice', [looped, b.constant('st', DataType.INT64, [1], [0]), b.op('Constant', [], { value_int: { name: 'value_int', type: AttrType.INT, value: 9223372036854775807n } })], {}, { outputNames: ['sliced'] });
  // model-local function: custom.Twice(a) = a + a
  const fb = new Graph('Twice');
  const a = fb.addInput(new Value('a'));
  const twiceOut = new Value('twice');
  fb.appendNode(new Node('', 'Add', [a, a], [twiceOut], { name: 'double' }));
  fb.outputs.push(twiceOut);
  const z = b.op('Twice', [sliced], {}, { domain: 'custom', outputNames: ['z'] });
  b.output(z, { dtype: DataType.FLOAT, shape: ['N', 4] });
  b.output(b.op('Identity', [strs], {}, { outputNames: ['labels_out'] }));
  const m = b.model({ opset: 17, extraOpsets: [['custom', 1]] });
  const fn: IrFunction = { domain: 'custom', name: 'Twice', overload: '', attributeNames: [], attributeDefaults: [], opsetImports: new Map([['', 17]]), body: fb, docString: 'doubles', extra: undefined };
  m.functions.push(fn);
  m.metadataProps = [['k', 'v']];
  m.docString = 'synthetic fuzz seed';
  return { name: 'synthetic', bytes: modelToBytes(m), cases };
}

// --- driver ------------------------------------------------------------------

export interface FuzzSummary {
  cases: number;
  successes: number;
  errorsByCode: Record<string, number>;
  byKind: Record<string, number>;
  slowestMs: number;
  slowestCase: number;
  peakRssBytes: number;
  elapsedMs: number;
}

export interface FuzzFailure {
  index: number;
  seed: number;
  source: string;
  mutation: string;
  message: string;
  stack: string;
}

export interface RunOptions {
  baseDir: string;
  steps?: CaseStep[];
  /** Called before each case (a watchdog in another process can detect hangs). */
  onCaseStart?(c: FuzzCase): void;
  /** Per-case time bound in ms (checked after the case; a hang detector, not a speed claim). */
  caseTimeLimitMs?: number;
  /** RSS bound in bytes, checked after every case. */
  rssLimitBytes?: number;
  /** Stop at the first failure (default true). */
  stopOnFailure?: boolean;
}

/** Run a plan in this process. Failures are returned, never thrown. */
export function runFuzz(plan: FuzzPlan, opts: RunOptions): { summary: FuzzSummary; failures: FuzzFailure[] } {
  const summary: FuzzSummary = { cases: 0, successes: 0, errorsByCode: {}, byKind: {}, slowestMs: 0, slowestCase: -1, peakRssBytes: 0, elapsedMs: 0 };
  const failures: FuzzFailure[] = [];
  const t0 = performance.now();
  const limitMs = opts.caseTimeLimitMs ?? 5000;
  const rssLimit = opts.rssLimitBytes ?? 3 * 2 ** 30;
  for (const c of fuzzCases(plan)) {
    opts.onCaseStart?.(c);
    const fail = (message: string, stack: string): void => {
      failures.push({ index: c.index, seed: c.seed, source: c.source, mutation: `${c.mutation.kind}: ${c.mutation.what}`, message, stack });
    };
    const start = performance.now();
    summary.cases++;
    summary.byKind[c.mutation.kind] = (summary.byKind[c.mutation.kind] ?? 0) + 1;
    try {
      const r = checkCase(c.mutation.bytes, { baseDir: opts.baseDir, ...(opts.steps ? { steps: opts.steps } : {}) });
      if (r.ok) summary.successes++;
      else summary.errorsByCode[r.code] = (summary.errorsByCode[r.code] ?? 0) + 1;
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      fail(`${err.name}: ${err.message}`, err.stack ?? '');
    }
    const ms = performance.now() - start;
    if (ms > summary.slowestMs) {
      summary.slowestMs = ms;
      summary.slowestCase = c.index;
    }
    if (ms > limitMs) fail(`case took ${ms.toFixed(0)} ms (limit ${limitMs} ms)`, '');
    const rss = process.memoryUsage.rss();
    summary.peakRssBytes = Math.max(summary.peakRssBytes, rss);
    if (rss > rssLimit) fail(`RSS ${(rss / 2 ** 20).toFixed(0)} MiB exceeds ${(rssLimit / 2 ** 20).toFixed(0)} MiB`, '');
    if (failures.length && (opts.stopOnFailure ?? true)) break;
  }
  summary.elapsedMs = performance.now() - t0;
  return { summary, failures };
}

export function formatSummary(s: FuzzSummary): string {
  const codes = Object.entries(s.errorsByCode)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const kinds = Object.entries(s.byKind)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return (
    `fuzz: ${s.cases} cases, ${s.successes} ok, ${s.cases - s.successes} SplitcError [${codes}]; ` +
    `mutations [${kinds}]; slowest case #${s.slowestCase} ${s.slowestMs.toFixed(0)} ms; ` +
    `peak RSS ${(s.peakRssBytes / 2 ** 20).toFixed(0)} MiB; ${(s.elapsedMs / 1000).toFixed(1)} s`
  );
}
