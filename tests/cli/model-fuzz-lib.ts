// Seeded fuzz of `splitc inspect` and `splitc convert` on model folders. Each case writes a
// mutated model (and, for models saved with external data, a data file) into model/, next
// to a sentinel folder outside/ and a fixed set of traps inside model/ (links out of the
// folder, a link loop, a FIFO, a sub-folder). Mutations: the wire-level ones of
// tests/ir/fuzz-lib.ts on the model bytes, adversarial external_data entries
// (location/offset/length), adversarial `splitc.external_data` records, and a replaced or
// damaged data file. Every case runs `inspectModel` then `convertModel` (into out/) with
// every file access recorded: each command must succeed or throw a SplitcError, reads must
// stay in model/ or out/, writes in out/, a model pointing outside must not load, and no
// output may contain sentinel bytes.

import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertModel, type ConvertOptions } from '../../src/cli/convert.js';
import { inspectModel } from '../../src/cli/inspect.js';
import { SplitcError } from '../../src/ir/errors.js';
import { EXTERNAL_DATA_KEY, loadModel, saveModel } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { assertValid } from '../../src/ir/verify.js';
import { hoistConstants } from '../../src/passes/hoist-constants.js';
import { exporterFixtures, fixtures } from '../helpers/fixtures.js';
import { ancestors, caseSeed, mutate, type MutationKind, rewrite, Rng, syntheticSource, walkFields, type WireField } from '../ir/fuzz-lib.js';
import { type Access, startTracking, stopTracking, strayAccesses } from '../helpers/read-tracker.js';

// --- sources -----------------------------------------------------------------

export interface PreparedSource {
  name: string;
  /** Relative share of the cases. */
  weight: number;
  inline: Uint8Array;
  inlineFields: WireField[];
  /** Saved with weights in `model.onnx.data` (Constant weights hoisted first); null when it has none. */
  external: {
    model: Uint8Array;
    fields: WireField[];
    /** The same model without the `splitc.external_data` record (as other tools write it). */
    bare: Uint8Array;
    bareFields: WireField[];
    data: Uint8Array;
  } | null;
}

export const MODEL_FILE = 'model.onnx';
export const DATA_FILE = 'model.onnx.data';

const SOURCE_SPECS: { name: string; weight: number; file: () => string }[] = [
  // Paddle: weights in Constant nodes (hoisted for the external variant)
  { name: 'paddle-cls', weight: 22, file: () => fixtures().find((f) => f.file === 'ch_ppocr_mobile_v2.0_cls_infer.onnx')!.path },
  // PyTorch: BatchNorm kept, weights shared through Identity(initializer)
  { name: 'torch-bn-identity', weight: 16, file: () => exporterFixtures().find((f) => f.file === 'torch_resnet_tiny_bn_op13.onnx')!.path },
  { name: 'torch-op9-identity', weight: 10, file: () => exporterFixtures().find((f) => f.file === 'torch_resnet_tiny_op9.onnx')!.path },
  { name: 'torch-tied', weight: 14, file: () => exporterFixtures().find((f) => f.file === 'torch_tied_op13.onnx')!.path },
  // TensorFlow style: NHWC, constant-only subgraphs, Identity(Constant)
  { name: 'tf-nhwc', weight: 16, file: () => exporterFixtures().find((f) => f.file === 'tf_style_nhwc_op13.onnx')!.path },
];

/** Load and prepare every source (the external variants are written in `scratch`). */
export function prepareSources(scratch: string): PreparedSource[] {
  const raw: { name: string; weight: number; bytes: Uint8Array }[] = SOURCE_SPECS.map((s) => {
    const b = fs.readFileSync(s.file());
    return { name: s.name, weight: s.weight, bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
  });
  // If/Loop subgraphs with outer references, a model-local function, string and field tensors
  raw.push({ name: 'synthetic', weight: 22, bytes: syntheticSource(0).bytes });
  return raw.map((r) => {
    const dir = fs.mkdtempSync(path.join(scratch, `${r.name}-`));
    const model = deserializeModel(r.bytes, { baseDir: dir, source: r.name });
    hoistConstants(model);
    const file = path.join(dir, MODEL_FILE);
    const saved = saveModel(model, file, { externalDataThreshold: 16 });
    let external: PreparedSource['external'] = null;
    if (saved.externalDataFile) {
      const m = new Uint8Array(fs.readFileSync(file));
      const fields = walkFields(m);
      const bare = deleteMetadata(m, fields, EXTERNAL_DATA_KEY);
      external = { model: m, fields, bare, bareFields: walkFields(bare), data: new Uint8Array(fs.readFileSync(saved.externalDataFile)) };
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return { name: r.name, weight: r.weight, inline: r.bytes, inlineFields: walkFields(r.bytes), external };
  });
}

// --- string-string entries on the wire ---------------------------------------

const utf8 = new TextEncoder();
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Entry {
  /** Index of the StringStringEntryProto field in the walk. */
  index: number;
  key: string;
  /** Index of its value field (field 2). */
  valueIndex: number;
  /** Field number of the entry itself (13: TensorProto.external_data, 14: ModelProto.metadata_props). */
  fieldNo: number;
}

function fieldNo(buf: Uint8Array, f: WireField): number {
  let v = 0;
  let mul = 1;
  for (let p = f.tagPos; p < f.tagPos + f.tagLen; p++) {
    v += (buf[p]! & 0x7f) * mul;
    mul *= 128;
  }
  return Math.floor(v / 8);
}

const EXTERNAL_KEYS = new Set(['location', 'offset', 'length', 'checksum']);

/** Key/value entries (a message whose direct children are a string field 1 and a string field 2). */
function entries(buf: Uint8Array, fields: readonly WireField[]): Entry[] {
  const children = new Map<number, number[]>();
  fields.forEach((f, i) => {
    if (f.parent >= 0) {
      let list = children.get(f.parent);
      if (!list) children.set(f.parent, (list = []));
      list.push(i);
    }
  });
  const out: Entry[] = [];
  for (const [parent, kids] of children) {
    const p = fields[parent]!;
    const no = fieldNo(buf, p);
    if (no !== 13 && !(no === 14 && p.depth === 0)) continue;
    const key = kids.find((k) => fields[k]!.wireType === 2 && fieldNo(buf, fields[k]!) === 1);
    const value = kids.find((k) => fields[k]!.wireType === 2 && fieldNo(buf, fields[k]!) === 2);
    if (key === undefined || value === undefined) continue;
    const k = decode(buf.subarray(fields[key]!.payloadStart, fields[key]!.payloadEnd));
    // field 13 is also GraphProto.value_info: only external_data keys count there
    if (no === 13 && !EXTERNAL_KEYS.has(k)) continue;
    out.push({ index: parent, key: k, valueIndex: value, fieldNo: no });
  }
  return out.sort((a, b) => a.index - b.index);
}

function setValue(buf: Uint8Array, fields: readonly WireField[], e: Entry, value: string): Uint8Array {
  const v = fields[e.valueIndex]!;
  return rewrite(buf, v.payloadStart, v.payloadEnd, utf8.encode(value), ancestors(fields, e.valueIndex, true));
}

function deleteEntry(buf: Uint8Array, fields: readonly WireField[], e: Entry): Uint8Array {
  const f = fields[e.index]!;
  return rewrite(buf, f.tagPos, f.payloadEnd, new Uint8Array(0), ancestors(fields, e.index, false));
}

/** A copy of entry `e` with another value, inserted just before it (a duplicate key). */
function duplicateEntry(buf: Uint8Array, fields: readonly WireField[], e: Entry, value: string): Uint8Array {
  const f = fields[e.index]!;
  const key = utf8.encode(e.key);
  const val = utf8.encode(value);
  const body = [0x0a, ...varint(key.byteLength), ...key, 0x12, ...varint(val.byteLength), ...val];
  const entry = Uint8Array.from([...buf.subarray(f.tagPos, f.tagPos + f.tagLen), ...varint(body.length), ...body]);
  return rewrite(buf, f.tagPos, f.tagPos, entry, ancestors(fields, e.index, false));
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function deleteMetadata(buf: Uint8Array, fields: readonly WireField[], key: string): Uint8Array {
  const e = entries(buf, fields).find((x) => x.fieldNo === 14 && x.key === key);
  return e ? deleteEntry(buf, fields, e) : buf;
}

// --- the case folder -----------------------------------------------------------

/**
 * root/outside/ (sentinel files), root/model/ (the case's model and fixed traps), root/out/.
 * Traps in model/: d → ../outside, dabs → /…/outside, w.bin → ../outside/secret.bin, loop → loop,
 * loopa ⇄ loopb, dangling → ../outside/nothing, fifo (a named pipe), sub/ with inner.bin,
 * inlink.data → model.onnx.data (stays inside: allowed).
 */
export interface CaseFolder {
  root: string;
  modelDir: string;
  outDir: string;
  outside: string;
  /** Resolved paths. */
  realModelDir: string;
  realOutDir: string;
  sentinelBytes: number;
}

/** Bytes every sentinel file repeats; found in an output, they prove a read from outside. */
export const SENTINEL_MARK = Buffer.from('<<SPLITC-FUZZ-SENTINEL>>');
const SENTINEL_BYTES = 1 << 20;

function sentinel(): Buffer {
  const b = Buffer.alloc(SENTINEL_BYTES);
  for (let at = 0; at < SENTINEL_BYTES; at += SENTINEL_MARK.byteLength) SENTINEL_MARK.copy(b, at);
  return b;
}

export function makeCaseFolder(root: string): CaseFolder {
  const outside = path.join(root, 'outside');
  const modelDir = path.join(root, 'model');
  const outDir = path.join(root, 'out');
  fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(modelDir, 'sub'), { recursive: true });
  fs.mkdirSync(outDir, { recursive: true });
  const s = sentinel();
  for (const f of ['secret.bin', DATA_FILE, MODEL_FILE, 'sub/secret.bin']) fs.writeFileSync(path.join(outside, f), s);
  fs.writeFileSync(path.join(modelDir, 'sub', 'inner.bin'), Buffer.alloc(4096, 7));
  fs.symlinkSync('../outside', path.join(modelDir, 'd'));
  fs.symlinkSync(path.resolve(outside), path.join(modelDir, 'dabs'));
  fs.symlinkSync('../outside/secret.bin', path.join(modelDir, 'w.bin'));
  fs.symlinkSync('loop', path.join(modelDir, 'loop'));
  fs.symlinkSync('loopb', path.join(modelDir, 'loopa'));
  fs.symlinkSync('loopa', path.join(modelDir, 'loopb'));
  fs.symlinkSync('../outside/nothing', path.join(modelDir, 'dangling'));
  fs.symlinkSync(DATA_FILE, path.join(modelDir, 'inlink.data'));
  const r = spawnSync('mkfifo', [path.join(modelDir, 'fifo')]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
  return { root, modelDir, outDir, outside, realModelDir: fs.realpathSync(modelDir), realOutDir: fs.realpathSync(outDir), sentinelBytes: SENTINEL_BYTES };
}

// --- cases --------------------------------------------------------------------

export type DataFile =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'symlink'; target: string }
  | { kind: 'dir' }
  | { kind: 'none' };

export type Scenario = 'inline' | 'ext-bytes' | 'ext-entries' | 'ext-record' | 'ext-datafile';

export interface ModelCase {
  index: number;
  seed: number;
  source: string;
  scenario: Scenario;
  /** What was done, for failure reports. */
  what: string[];
  model: Uint8Array;
  data: DataFile | null;
  /** The model points outside its folder (and nothing later undid that): it must not load. */
  escapes: boolean;
  convert: ConvertOptions;
}

const KIND_WEIGHTS: [MutationKind, number][] = [
  ['bitflip', 12],
  ['overwrite', 8],
  ['truncate', 6],
  ['length', 12],
  ['wiretype', 4],
  ['varint', 12],
  ['bytes', 16],
  ['duplicate', 8],
  ['delete', 10],
  ['swap', 4],
  ['transplant', 4],
];

function pickWeighted<T>(rng: Rng, items: readonly [T, number][]): T {
  let r = rng.next() * items.reduce((a, [, w]) => a + w, 0);
  for (const [x, w] of items) if ((r -= w) < 0) return x;
  return items[items.length - 1]![0];
}

/** Locations that lead out of model/ (each through a different door). */
function escapingLocations(f: CaseFolder): string[] {
  return [
    '../outside/secret.bin',
    `../outside/${DATA_FILE}`,
    path.join(path.resolve(f.outside), 'secret.bin'),
    path.join(f.realModelDir, DATA_FILE), // absolute, even if it names the right file
    '/etc/passwd',
    '/proc/self/environ',
    'd/secret.bin',
    `d/${DATA_FILE}`,
    'd/sub/secret.bin',
    `dabs/${DATA_FILE}`,
    'w.bin',
    'sub/../../outside/secret.bin',
    './../outside/secret.bin',
    '..\\outside\\secret.bin',
    `d/../model/${DATA_FILE}`,
    'dangling',
    'd',
  ];
}

/** Locations inside the folder that are wrong in other ways (or right, spelled oddly). */
const ODD_LOCATIONS = [
  'sub',
  'sub/',
  '.',
  '',
  'loop',
  'loopa',
  'fifo',
  'missing.bin',
  'a\0b',
  `${DATA_FILE}\0../../outside/secret.bin`,
  'x'.repeat(5000),
  `${'deep/'.repeat(800)}x.bin`,
  'é/ü.bin',
  MODEL_FILE,
  'inlink.data',
  `./${DATA_FILE}`,
  'sub/inner.bin',
  `${DATA_FILE}/`,
  '%2e%2e/outside/secret.bin',
  'file:///etc/passwd',
];

function adversarialNumber(rng: Rng, dataBytes: number, original: string): string {
  const pool = [
    '',
    '-1',
    '0',
    '1',
    '99999999999999999999',
    '9007199254740993',
    '9007199254740991',
    String(2 ** 53),
    '1e3',
    '0x10',
    ' 8',
    '8 ',
    'NaN',
    'Infinity',
    '4\0',
    '007',
    '٣',
    String(dataBytes - 1),
    String(dataBytes),
    String(dataBytes + 1),
    String(rng.int(Math.max(1, dataBytes))),
    String(Number(original) + 1),
    String(Math.max(0, Number(original) - 1)),
    String(Number(original) + 4),
    'x'.repeat(3000),
  ];
  return rng.pick(pool);
}

function recordValue(rng: Rng, f: CaseFolder, original: string, dataBytes: number): { value: string; escapes: boolean } {
  let rec: { location: unknown; bytes: unknown; fingerprint: unknown } = { location: DATA_FILE, bytes: dataBytes, fingerprint: '' };
  try {
    rec = (JSON.parse(original) as (typeof rec)[])[0] ?? rec;
  } catch {
    // keep the default
  }
  const r = rng.next();
  if (r < 0.45) {
    const loc = rng.pick(escapingLocations(f));
    const list = rng.next() < 0.3 ? [rec, { ...rec, location: loc }] : [{ ...rec, location: loc }];
    return { value: JSON.stringify(list), escapes: true };
  }
  if (r < 0.7) return { value: JSON.stringify([{ ...rec, location: rng.pick(ODD_LOCATIONS) }]), escapes: false };
  const odd: unknown[] = [
    [{ ...rec, location: 5 }],
    [{ ...rec, location: null }],
    [{ ...rec, location: ['a'] }],
    [null],
    [1],
    ['model.onnx.data'],
    [{}],
    {},
    'str',
    [{ ...rec, bytes: 'x' }],
    [{ ...rec, bytes: -1 }],
    [{ ...rec, fingerprint: 0 }],
    [{ ...rec, fingerprint: 'deadbeef' }],
    [rec, rec],
    [],
  ];
  const v = rng.next() < 0.85 ? JSON.stringify(rng.pick(odd)) : rng.pick(['not json', '[', '\0', '{"location":"../outside/secret.bin"}']);
  return { value: v, escapes: false };
}

export interface CasePlan {
  seed: number;
  sources: PreparedSource[];
  folder: CaseFolder;
}

/** Case `index` of a run: depends only on the seed, the index and the sources. */
export function modelCase(plan: CasePlan, index: number): ModelCase {
  const seed = caseSeed(plan.seed, index);
  const rng = new Rng(seed);
  const src = pickWeighted(rng, plan.sources.map((s) => [s, s.weight] as [PreparedSource, number]));
  const what: string[] = [];
  const convert: ConvertOptions = {};
  if (rng.next() < 0.4) convert.hoistConstants = true;
  if (rng.next() < 0.4) convert.externalDataThreshold = rng.pick([0, 16, 1024]);
  const byteMutation = (bytes: Uint8Array, fields: readonly WireField[]): Uint8Array => {
    const kind = pickWeighted(rng, KIND_WEIGHTS);
    const m = mutate(bytes, fields, kind, rng);
    what.push(`${kind}: ${m.what}`);
    return m.bytes;
  };
  const ext = src.external;
  if (!ext || rng.next() < 0.35) {
    return { index, seed, source: src.name, scenario: 'inline', what, model: byteMutation(src.inline, src.inlineFields), data: null, escapes: false, convert };
  }
  const withRecord = rng.next() < 0.6;
  what.push(withRecord ? 'external data with record' : 'external data without record');
  let model = withRecord ? ext.model : ext.bare;
  let fields = withRecord ? ext.fields : ext.bareFields;
  let data: DataFile = { kind: 'bytes', bytes: ext.data };
  let escapes = false;
  const r = rng.next();
  let scenario: Scenario;
  if (r < 0.25) {
    scenario = 'ext-bytes';
    model = byteMutation(model, fields);
  } else if (r < 0.65) {
    scenario = 'ext-entries';
    for (let n = 1 + (rng.next() < 0.3 ? rng.int(3) : 0); n > 0; n--) {
      const es = entries(model, fields).filter((e) => e.fieldNo === 13);
      if (!es.length) break;
      const e = rng.pick(es);
      const original = decode(model.subarray(fields[e.valueIndex]!.payloadStart, fields[e.valueIndex]!.payloadEnd));
      const op = rng.next();
      if (op < 0.1) {
        model = deleteEntry(model, fields, e);
        what.push(`delete external entry '${e.key}' at ${fields[e.index]!.tagPos}`);
      } else if (op < 0.2) {
        const v = e.key === 'location' ? rng.pick(escapingLocations(plan.folder)) : adversarialNumber(rng, ext.data.byteLength, original);
        model = duplicateEntry(model, fields, e, v);
        what.push(`second '${e.key}' entry ${JSON.stringify(v).slice(0, 80)} before the one at ${fields[e.index]!.tagPos}`);
        // the first entry wins: the new one now comes first
        if (e.key === 'location') escapes = true;
      } else {
        let v: string;
        if (e.key === 'location') {
          const escape = rng.next() < 0.6;
          v = escape ? rng.pick(escapingLocations(plan.folder)) : rng.pick(ODD_LOCATIONS);
          escapes ||= escape;
        } else v = adversarialNumber(rng, ext.data.byteLength, original);
        model = setValue(model, fields, e, v);
        what.push(`external '${e.key}' at ${fields[e.index]!.tagPos} ${JSON.stringify(original)} → ${JSON.stringify(v).slice(0, 80)}`);
      }
      fields = walkFields(model);
    }
  } else if (r < 0.8) {
    scenario = 'ext-record';
    const rec = entries(model, fields).find((e) => e.fieldNo === 14 && e.key === EXTERNAL_DATA_KEY);
    if (rec) {
      const original = decode(model.subarray(fields[rec.valueIndex]!.payloadStart, fields[rec.valueIndex]!.payloadEnd));
      const v = recordValue(rng, plan.folder, original, ext.data.byteLength);
      model = setValue(model, fields, rec, v.value);
      escapes = v.escapes;
      what.push(`record → ${JSON.stringify(v.value).slice(0, 120)}`);
    } else {
      // a record added to a model that had none
      const v = recordValue(rng, plan.folder, '', ext.data.byteLength);
      model = addMetadata(model, EXTERNAL_DATA_KEY, v.value);
      escapes = v.escapes;
      what.push(`record added: ${JSON.stringify(v.value).slice(0, 120)}`);
    }
    fields = walkFields(model);
  } else {
    scenario = 'ext-datafile';
    const d = rng.next();
    const bytes = ext.data;
    if (d < 0.2) {
      const n = rng.int(bytes.byteLength);
      data = { kind: 'bytes', bytes: bytes.slice(0, n) };
      what.push(`data file truncated to ${n} bytes`);
    } else if (d < 0.3) {
      data = { kind: 'bytes', bytes: new Uint8Array(0) };
      what.push('data file empty');
    } else if (d < 0.45) {
      const out = Uint8Array.from(bytes);
      for (let k = 1 + rng.int(4); k > 0; k--) out[rng.int(out.byteLength)]! ^= 1 << rng.int(8);
      data = { kind: 'bytes', bytes: out };
      what.push('data file bits flipped');
    } else if (d < 0.55) {
      const out = new Uint8Array(bytes.byteLength + 1 + rng.int(100));
      out.set(bytes);
      data = { kind: 'bytes', bytes: out };
      what.push('data file grown');
    } else if (d < 0.9) {
      const target = rng.pick(['../outside/secret.bin', `../outside/${DATA_FILE}`, path.join(path.resolve(plan.folder.outside), 'secret.bin'), 'd/secret.bin', 'w.bin', 'fifo', 'sub', 'd', 'loop', 'missing.bin', 'dangling']);
      data = { kind: 'symlink', target };
      escapes = !['fifo', 'sub', 'loop', 'missing.bin'].includes(target);
      what.push(`data file is a link to ${target}`);
    } else if (d < 0.95) {
      data = { kind: 'dir' };
      what.push('data file is a folder');
    } else {
      data = { kind: 'none' };
      what.push('data file missing');
    }
  }
  // some cases also get a wire-level mutation after the targeted one
  if (scenario !== 'ext-bytes' && rng.next() < 0.2) {
    model = byteMutation(model, fields);
    escapes = false;
  }
  return { index, seed, source: src.name, scenario, what, model, data, escapes, convert };
}

/** Append a metadata_props entry (ModelProto field 14) at the top level. */
function addMetadata(buf: Uint8Array, key: string, value: string): Uint8Array {
  const k = utf8.encode(key);
  const v = utf8.encode(value);
  const body = [0x0a, ...varint(k.byteLength), ...k, 0x12, ...varint(v.byteLength), ...v];
  const entry = Uint8Array.from([0x72, ...varint(body.length), ...body]);
  const out = new Uint8Array(buf.byteLength + entry.byteLength);
  out.set(buf);
  out.set(entry, buf.byteLength);
  return out;
}

// --- running a case --------------------------------------------------------------

export type Outcome = { ok: true } | { ok: false; code: string };

export interface CaseResult {
  inspect: Outcome;
  convert: Outcome;
  /** Accesses that broke the rule (empty when all is well). */
  stray: Access[];
  accesses: number;
  /** Property violations (not SplitcErrors): empty when all is well. */
  problems: string[];
}

function outcome(step: string, fn: () => unknown, problems: string[]): Outcome {
  try {
    fn();
    return { ok: true };
  } catch (e) {
    if (e instanceof SplitcError) return { ok: false, code: e.code };
    const err = e instanceof Error ? e : new Error(String(e));
    problems.push(`${step} threw ${err.name}: ${err.message}\n${err.stack ?? ''}`);
    return { ok: false, code: 'NOT_A_SPLITC_ERROR' };
  }
}

function writeCase(f: CaseFolder, c: ModelCase): void {
  fs.writeFileSync(path.join(f.modelDir, MODEL_FILE), c.model);
  const data = path.join(f.modelDir, DATA_FILE);
  if (!c.data) return;
  if (c.data.kind === 'bytes') fs.writeFileSync(data, c.data.bytes);
  else if (c.data.kind === 'symlink') fs.symlinkSync(c.data.target, data);
  else if (c.data.kind === 'dir') fs.mkdirSync(data);
}

function clearCase(f: CaseFolder): void {
  for (const n of [MODEL_FILE, DATA_FILE]) fs.rmSync(path.join(f.modelDir, n), { recursive: true, force: true });
  fs.rmSync(f.outDir, { recursive: true, force: true });
  fs.mkdirSync(f.outDir);
}

/** Write the case, run inspect and convert with accesses tracked, check, clean up. */
export async function runCase(f: CaseFolder, c: ModelCase): Promise<CaseResult> {
  clearCase(f);
  writeCase(f, c);
  const file = path.join(f.modelDir, MODEL_FILE);
  const out = path.join(f.outDir, MODEL_FILE);
  const problems: string[] = [];
  const accesses = startTracking();
  let inspect: Outcome;
  let convert: Outcome;
  try {
    inspect = outcome('inspect', () => inspectModel(file), problems);
    convert = outcome('convert', () => convertModel(file, out, c.convert), problems);
    if (convert.ok) {
      // what convert wrote must load and verify again
      const again = outcome(
        'reload',
        () => {
          const m = loadModel(out);
          assertValid(m);
        },
        problems,
      );
      if (!again.ok) problems.push(`the converted model does not load: ${again.code}`);
    }
    // anything a command left running (a stream, a promise) gets to run while still tracked
    await new Promise((r) => setImmediate(r));
  } finally {
    stopTracking();
  }
  const stray = strayAccesses(accesses, [f.realModelDir, f.realOutDir], [f.realOutDir]);
  if (c.escapes && (inspect.ok || convert.ok)) problems.push(`the model points outside its folder but ${inspect.ok ? 'inspect' : 'convert'} succeeded`);
  if (convert.ok) {
    for (const name of fs.readdirSync(f.outDir)) {
      const p = path.join(f.outDir, name);
      if (fs.lstatSync(p).isFile() && fs.readFileSync(p).includes(SENTINEL_MARK)) problems.push(`out/${name} contains sentinel bytes from outside the model folder`);
    }
  }
  return { inspect, convert, stray, accesses: accesses.length, problems };
}

// --- driver ------------------------------------------------------------------------

export interface ModelFuzzSummary {
  cases: number;
  /** Both commands succeeded. */
  successes: number;
  inspectOk: number;
  convertOk: number;
  /** Error codes by command, e.g. `inspect:E_PROTOBUF`. */
  errorsByCode: Record<string, number>;
  byScenario: Record<string, number>;
  bySource: Record<string, number>;
  /** Cases whose model pointed outside its folder (all must have failed). */
  escapeCases: number;
  accessesChecked: number;
  slowestMs: number;
  slowestCase: number;
  peakRssBytes: number;
  elapsedMs: number;
}

export interface ModelFuzzFailure {
  index: number;
  seed: number;
  source: string;
  scenario: string;
  what: string;
  message: string;
}

export interface ChildConfig {
  seed: number;
  cases: number;
  /** Run only these case indices (replay). */
  only?: number[];
  workDir: string;
  rssLimitBytes: number;
  stopOnFailure: boolean;
}

export interface ProgressMsg {
  type: 'case';
  index: number;
  seed: number;
  source: string;
  scenario: string;
  what: string;
}

/** Sent as soon as a case fails, so failures before a hang are reported too. */
export interface FailureMsg {
  type: 'failure';
  failure: ModelFuzzFailure;
}

export interface DoneMsg {
  type: 'done';
  summary: ModelFuzzSummary;
  failures: ModelFuzzFailure[];
}

export function emptySummary(): ModelFuzzSummary {
  return { cases: 0, successes: 0, inspectOk: 0, convertOk: 0, errorsByCode: {}, byScenario: {}, bySource: {}, escapeCases: 0, accessesChecked: 0, slowestMs: 0, slowestCase: -1, peakRssBytes: 0, elapsedMs: 0 };
}

const bump = (r: Record<string, number>, k: string): void => void (r[k] = (r[k] ?? 0) + 1);

/** Run a whole fuzz in this process (the child does this); progress goes to `onCase`. */
export async function runModelFuzz(config: ChildConfig, onCase: (m: ProgressMsg) => void, onFailure: (f: ModelFuzzFailure) => void = () => {}): Promise<Omit<DoneMsg, 'type'>> {
  const t0 = performance.now();
  const sources = prepareSources(fs.mkdtempSync(path.join(config.workDir, 'sources-')));
  const folder = makeCaseFolder(fs.mkdtempSync(path.join(config.workDir, 'case-')));
  const plan: CasePlan = { seed: config.seed, sources, folder };
  const summary = emptySummary();
  const failures: ModelFuzzFailure[] = [];
  const indices = config.only ?? Array.from({ length: config.cases }, (_, i) => i);
  for (const index of indices) {
    const c = modelCase(plan, index);
    const what = c.what.join('; ');
    onCase({ type: 'case', index, seed: c.seed, source: c.source, scenario: c.scenario, what });
    const start = performance.now();
    const r = await runCase(folder, c);
    const ms = performance.now() - start;
    summary.cases++;
    bump(summary.byScenario, c.scenario);
    bump(summary.bySource, c.source);
    if (c.escapes) summary.escapeCases++;
    summary.accessesChecked += r.accesses;
    if (r.inspect.ok) summary.inspectOk++;
    else bump(summary.errorsByCode, `inspect:${r.inspect.code}`);
    if (r.convert.ok) summary.convertOk++;
    else bump(summary.errorsByCode, `convert:${r.convert.code}`);
    if (r.inspect.ok && r.convert.ok) summary.successes++;
    if (ms > summary.slowestMs) {
      summary.slowestMs = ms;
      summary.slowestCase = index;
    }
    const rss = process.memoryUsage.rss();
    summary.peakRssBytes = Math.max(summary.peakRssBytes, rss);
    const problems = [...r.problems, ...r.stray.map((a) => `${a.kind} outside the allowed folders: ${a.op}(${JSON.stringify(a.path).slice(0, 200)}) → ${a.real}`)];
    if (rss > config.rssLimitBytes) problems.push(`RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
    for (const message of problems) {
      const f = { index, seed: c.seed, source: c.source, scenario: c.scenario, what, message };
      failures.push(f);
      onFailure(f);
    }
    if (failures.length && config.stopOnFailure) break;
  }
  // the sentinel folder is untouched
  for (const f of ['secret.bin', DATA_FILE, MODEL_FILE, 'sub/secret.bin']) {
    const st = fs.lstatSync(path.join(folder.outside, f));
    if (!st.isFile() || st.size !== folder.sentinelBytes) failures.push({ index: -1, seed: 0, source: '', scenario: '', what: '', message: `outside/${f} was changed` });
  }
  summary.elapsedMs = performance.now() - t0;
  return { summary, failures };
}

export function formatModelFuzzSummary(s: ModelFuzzSummary): string {
  const list = (r: Record<string, number>): string =>
    Object.entries(r)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  return [
    `model fuzz: ${s.cases} cases; both commands ok ${s.successes}, inspect ok ${s.inspectOk}, convert ok ${s.convertOk}`,
    `  errors: ${list(s.errorsByCode)}`,
    `  scenarios: ${list(s.byScenario)}; escaping models ${s.escapeCases} (all refused)`,
    `  sources: ${list(s.bySource)}`,
    `  file accesses checked ${s.accessesChecked}; slowest case #${s.slowestCase} ${s.slowestMs.toFixed(0)} ms; peak RSS ${(s.peakRssBytes / 2 ** 20).toFixed(0)} MiB; ${(s.elapsedMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

// --- parent side: fork + watchdog -----------------------------------------------------

export interface ChildRun {
  done: Omit<DoneMsg, 'type'> | null;
  /** Why the watchdog killed the child (null: it was not). */
  killedFor: string | null;
  exitCode: number | null;
  /** The case running when it stopped (for a hang or a crash). */
  last: ProgressMsg | null;
  /** Failures as the child reported them (also those before a kill). */
  failures: ModelFuzzFailure[];
}

function rssOf(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
}

/**
 * Run the fuzz in a forked child (tests/cli/model-fuzz-child.ts) and kill it when no case
 * starts for `stallMs` or its RSS passes `config.rssLimitBytes`.
 */
export async function runInChild(config: ChildConfig, opts: { repoRoot: string; stallMs: number; onProgress?: (m: ProgressMsg) => void }): Promise<ChildRun> {
  const configFile = path.join(config.workDir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  const child: ChildProcess = fork(path.join(opts.repoRoot, 'tests/cli/model-fuzz-child.ts'), [configFile], {
    execArgv: ['--import', 'tsx'],
    cwd: opts.repoRoot,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const run: ChildRun = { done: null, killedFor: null, exitCode: null, last: null, failures: [] };
  let lastAt = Date.now();
  child.on('message', (m: ProgressMsg | FailureMsg | DoneMsg) => {
    if (m.type === 'case') {
      run.last = m;
      lastAt = Date.now();
      opts.onProgress?.(m);
    } else if (m.type === 'failure') run.failures.push(m.failure);
    else run.done = { summary: m.summary, failures: m.failures };
  });
  const watchdog = setInterval(() => {
    const waitedMs = Date.now() - lastAt;
    // start-up (tsx, preparing the sources) gets a longer allowance
    const limit = run.last ? opts.stallMs : Math.max(60_000, opts.stallMs);
    const rss = rssOf(child.pid!);
    if (!run.done && !run.killedFor && (waitedMs > limit || rss > config.rssLimitBytes)) {
      run.killedFor = waitedMs > limit ? `no progress for ${waitedMs} ms` : `RSS ${(rss / 2 ** 20).toFixed(0)} MiB`;
      child.kill('SIGKILL');
    }
  }, 100);
  run.exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  clearInterval(watchdog);
  return run;
}

export function describeCase(m: ProgressMsg | null): string {
  return m ? `case #${m.index} (seed ${m.seed}, ${m.source}, ${m.scenario}: ${m.what})` : 'start-up';
}
