// Files: load a model (external data relative to its folder) and save one atomically
// (temp files, then rename, so a failure never leaves a half-written model).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeStaleTemps, tempPrefix } from '../temp-files.js';
import { SplitcError } from '../errors.js';
import { AttrType, allGraphs, type Graph, type Model } from '../graph.js';
import { MemoryStorage, type Tensor } from '../tensor.js';
import { realFolder, resolveDataFile } from './external-path.js';
import { deserializeModel } from './read.js';
import { ExternalStorage } from './storage.js';
import { concatBytes } from '../bytes.js';
import { serializeModel, type WriteOptions } from './write.js';

export function loadModel(file: string): Model {
  return loadModelWithBytes(file).model;
}

/** The model and the file's bytes (a view, not a copy), for callers that also hash the file. */
export function loadModelWithBytes(file: string): { model: Model; bytes: Uint8Array } {
  let buf: Buffer;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) throw new SplitcError('E_IO', `${file} is a folder, not a model file`, { hint: 'pass the path of a .onnx file' });
    buf = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof SplitcError) throw e;
    throw new SplitcError('E_IO', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      hint: 'check the path and permissions',
      cause: e,
    });
  }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const model = deserializeModel(bytes, { baseDir: path.dirname(path.resolve(file)), source: file });
  checkExternalDataPairs(model, path.dirname(path.resolve(file)), file);
  return { model, bytes };
}

/**
 * Metadata key under which `saveModel` records each external data file it wrote with the model:
 * `[{location, bytes, fingerprint}]`. A model and a data file from two different writes (a crash
 * between the two renames, a file copied over another) are then refused on load instead of
 * loading with the wrong weights. Models written by other tools have no such entry.
 */
export const EXTERNAL_DATA_KEY = 'splitc.external_data';

interface DataRecord {
  location: string;
  bytes: number;
  fingerprint: string;
}

/** Files up to this size are hashed whole; larger ones by their first and last MiB and 16 evenly spaced 64 KiB windows. */
const WHOLE_HASH_BYTES = 64 * 1024 * 1024;

/** sha256 over a file's size and its bytes (or evenly spaced windows of a large file). */
export function dataFingerprint(file: string): { bytes: number; fingerprint: string } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const h = createHash('sha256').update(`size=${size}\0`);
    const window = (offset: number, length: number): void => {
      const b = Buffer.alloc(length);
      const n = fs.readSync(fd, b, 0, length, offset);
      h.update(b.subarray(0, n));
    };
    if (size <= WHOLE_HASH_BYTES) {
      for (let at = 0; at < size; at += 1 << 20) window(at, Math.min(1 << 20, size - at));
    } else {
      window(0, 1 << 20);
      for (let k = 1; k <= 16; k++) window(Math.floor((size * k) / 17), 64 * 1024);
      window(size - (1 << 20), 1 << 20);
    }
    return { bytes: size, fingerprint: h.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The records of `model` (null: it has none, or their text is not a JSON array, as another
 * tool might write). An entry that is not a well-formed record is refused.
 */
function dataRecords(model: Model, file: string): DataRecord[] | null {
  const entry = model.metadataProps.find(([k]) => k === EXTERNAL_DATA_KEY);
  if (!entry) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry[1]);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed)) return null;
  for (const r of parsed as unknown[]) {
    const rec = r as Partial<DataRecord> | null;
    if (!rec || typeof rec !== 'object' || typeof rec.location !== 'string' || typeof rec.bytes !== 'number' || typeof rec.fingerprint !== 'string') {
      throw new SplitcError('E_EXTERNAL_DATA', `${file}: its ${EXTERNAL_DATA_KEY} metadata entry is malformed (${JSON.stringify(r)?.slice(0, 100)})`, {
        hint: 'the model file is corrupted: convert again from the source model',
      });
    }
  }
  return parsed as DataRecord[];
}

function checkExternalDataPairs(model: Model, dir: string, file: string): void {
  const records = dataRecords(model, file);
  if (!records) return;
  const realDir = realFolder(dir);
  for (const r of records) {
    // the same containment as tensors' locations: the record is no way to read outside the folder
    const { realFile } = resolveDataFile(dir, realDir, r.location, `${file}: the data file it was written with`);
    let now: { bytes: number; fingerprint: string };
    try {
      now = dataFingerprint(realFile);
    } catch (e) {
      throw new SplitcError('E_EXTERNAL_DATA', `${file} was written with the data file '${r.location}', which cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'keep the model and its data file together' });
    }
    if (now.bytes !== r.bytes || now.fingerprint !== r.fingerprint) {
      throw new SplitcError('E_EXTERNAL_DATA', `${file} does not go with its data file '${r.location}' (${now.bytes} bytes, ${r.bytes} when the model was written; the contents differ): they come from two different writes`, {
        hint: 'a convert was interrupted between writing the data and the model, or one of the two was replaced: convert again from the source model',
      });
    }
  }
}

/** Serialize without the external-data record (it describes a file next to the model, which bytes in memory do not have). */
function withoutDataRecord<T>(model: Model, fn: () => T): T {
  const props = model.metadataProps;
  if (!props.some(([k]) => k === EXTERNAL_DATA_KEY)) return fn();
  model.metadataProps = props.filter(([k]) => k !== EXTERNAL_DATA_KEY);
  try {
    return fn();
  } finally {
    model.metadataProps = props;
  }
}

/** Model bytes in memory (no external data). */
export function modelToBytes(model: Model, opts: Pick<WriteOptions, 'intermediateTypes'> = {}): Uint8Array {
  const s = withoutDataRecord(model, () => serializeModel(model, opts));
  return concatBytes(s.parts, s.length);
}

export interface SaveOptions {
  /** Initializers of at least this many bytes go to `<file>.data`. */
  externalDataThreshold?: number;
  /** Largest protobuf to write before moving initializers out (default 2 GB); for tests. */
  protobufLimitBytes?: number;
  /** External data file name (default `<basename>.data`). */
  externalDataName?: string;
}

export interface SaveResult {
  modelBytes: number;
  externalDataFile: string | null;
  externalBytes: number;
}

/** Write the model (and its external data file when needed) via temp files and rename. */
export function saveModel(model: Model, file: string, opts: SaveOptions = {}): SaveResult {
  const location = opts.externalDataName ?? `${path.basename(file)}.data`;
  const dir = path.dirname(path.resolve(file));
  if (isDirectory(file)) {
    throw new SplitcError('E_IO', `cannot write ${file}: it is a folder`, { hint: 'pass the path of the .onnx file to create' });
  }
  const writeOpts = {
    externalDataLocation: location,
    ...(opts.externalDataThreshold !== undefined ? { externalDataThreshold: opts.externalDataThreshold } : {}),
    ...(opts.protobufLimitBytes !== undefined ? { protobufLimitBytes: opts.protobufLimitBytes } : {}),
  };
  const s = withoutDataRecord(model, () => serializeModel(model, writeOpts));
  // what a killed earlier write left for these two files goes first
  removeStaleTemps(dir, path.basename(file));
  if (s.external) removeStaleTemps(dir, path.basename(s.external.location));
  const stamp = `${process.pid}-${Date.now()}`;
  const tmpModel = path.join(dir, tempPrefix(path.basename(file)) + stamp);
  const dataFile = s.external ? path.join(dir, s.external.location) : null;
  const tmpData = dataFile ? path.join(dir, tempPrefix(path.basename(dataFile)) + stamp) : null;
  // Tensors lazily read from the data file about to be replaced must not later read the
  // new file at their old offsets: they are re-pointed (or pulled into memory) below.
  const affected = dataFile ? tensorsStoredIn(model, dataFile) : [];
  try {
    if (s.external && tmpData) {
      // A generator, so tensors read from another external file are read one at a time
      // and dropped once written (memory stays near one batch, not the whole data file).
      const entries = s.external.entries;
      writeParts(
        tmpData,
        (function* () {
          for (const e of entries) yield e.tensor.bytes();
        })(),
      );
    }
    if (s.external && tmpData) {
      // the model records the data file it goes with (checked on load): written after the data
      const record: DataRecord = { location: s.external.location, ...dataFingerprint(tmpData) };
      const props = model.metadataProps;
      model.metadataProps = [...props.filter(([k]) => k !== EXTERNAL_DATA_KEY), [EXTERNAL_DATA_KEY, JSON.stringify([record])]];
      try {
        writeParts(tmpModel, serializeModel(model, writeOpts).parts);
      } finally {
        model.metadataProps = props;
      }
    } else writeParts(tmpModel, s.parts);
    if (s.external && tmpData && dataFile) {
      const planned = new Map(s.external.entries.map((e) => [e.tensor, e] as const));
      for (const t of affected) if (!planned.has(t)) t.storage = new MemoryStorage(t.bytes());
      fs.renameSync(tmpData, dataFile);
      for (const t of affected) {
        const e = planned.get(t);
        if (e) t.storage = new ExternalStorage(dataFile, s.external.location, e.offset, e.length);
      }
    }
    fs.renameSync(tmpModel, file);
  } catch (e) {
    for (const t of [tmpModel, tmpData]) if (t) fs.rmSync(t, { force: true });
    if (e instanceof SplitcError) throw e;
    throw new SplitcError('E_IO', `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  return { modelBytes: s.length, externalDataFile: dataFile, externalBytes: s.external?.length ?? 0 };
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Tensors (initializers and attribute tensors, subgraphs and functions included) whose bytes live in `file`. */
function tensorsStoredIn(model: Model, file: string): Tensor[] {
  const cache = new Map<string, string>();
  const real = (p: string): string => {
    let r = cache.get(p);
    if (r === undefined) {
      try {
        r = fs.realpathSync(p);
      } catch {
        r = path.resolve(p);
      }
      cache.set(p, r);
    }
    return r;
  };
  const target = real(file);
  const out: Tensor[] = [];
  const visit = (t: Tensor): void => {
    if (t.storage instanceof ExternalStorage && (t.storage.path === file || real(t.storage.path) === target)) out.push(t);
  };
  const graphs: Graph[] = [...allGraphs(model.graph)];
  for (const f of model.functions) graphs.push(...allGraphs(f.body));
  for (const g of graphs) {
    for (const v of g.initializers.values()) if (v.constValue) visit(v.constValue);
    for (const n of g.nodes) {
      for (const a of n.attributes.values()) {
        if (a.type === AttrType.TENSOR) visit(a.value);
        else if (a.type === AttrType.TENSORS) a.value.forEach(visit);
      }
    }
  }
  return out;
}

/** Write many buffers with few syscalls and no concatenation. */
function writeParts(file: string, parts: Iterable<Uint8Array>): void {
  const fd = fs.openSync(file, 'w');
  try {
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = (): void => {
      let pending = batch;
      while (pending.length) {
        const n = fs.writevSync(fd, pending);
        // handle short writes
        let left = n;
        let i = 0;
        while (i < pending.length && left >= pending[i]!.byteLength) left -= pending[i++]!.byteLength;
        pending = pending.slice(i);
        if (pending.length && left > 0) pending[0] = pending[0]!.subarray(left);
      }
      batch = [];
      batchBytes = 0;
    };
    for (const p of parts) {
      if (p.byteLength === 0) continue;
      batch.push(p);
      batchBytes += p.byteLength;
      if (batch.length >= 512 || batchBytes >= 64 * 1024 * 1024) flush();
    }
    flush();
  } finally {
    fs.closeSync(fd);
  }
}
