// Files: load a model (external data relative to its folder) and save one atomically
// (temp files, then rename, so a failure never leaves a half-written model).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../errors.js';
import type { Model } from '../graph.js';
import { deserializeModel } from './read.js';
import { concatParts } from './wire.js';
import { serializeModel, type WriteOptions } from './write.js';

export function loadModel(file: string): Model {
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
  return deserializeModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), {
    baseDir: path.dirname(path.resolve(file)),
    source: file,
  });
}

/** Model bytes in memory (no external data). */
export function modelToBytes(model: Model): Uint8Array {
  const s = serializeModel(model);
  return concatParts(s.parts, s.length);
}

export interface SaveOptions {
  /** Initializers of at least this many bytes go to `<file>.data`. */
  externalDataThreshold?: number;
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
  const s = serializeModel(model, {
    externalDataLocation: location,
    ...(opts.externalDataThreshold !== undefined ? { externalDataThreshold: opts.externalDataThreshold } : {}),
  });
  const dir = path.dirname(path.resolve(file));
  const tmpTag = `.splitc-tmp-${process.pid}-${Date.now()}`;
  const tmpModel = path.join(dir, `.${path.basename(file)}${tmpTag}`);
  const dataFile = s.external ? path.join(dir, s.external.location) : null;
  const tmpData = dataFile ? path.join(dir, `.${path.basename(dataFile)}${tmpTag}`) : null;
  try {
    if (s.external && tmpData) {
      writeParts(
        tmpData,
        s.external.entries.map((e) => e.tensor.bytes()),
      );
    }
    writeParts(tmpModel, s.parts);
    if (tmpData && dataFile) fs.renameSync(tmpData, dataFile);
    fs.renameSync(tmpModel, file);
  } catch (e) {
    for (const t of [tmpModel, tmpData]) if (t) fs.rmSync(t, { force: true });
    if (e instanceof SplitcError) throw e;
    throw new SplitcError('E_IO', `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  return { modelBytes: s.length, externalDataFile: dataFile, externalBytes: s.external?.length ?? 0 };
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
