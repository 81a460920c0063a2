// TensorProto → Tensor: data stays a view into the input (raw_data or the typed fields);
// external data is located, contained in the model folder and size-checked, not read.

import { DataType, dtypeName, byteSizeOf } from '../dtype.js';
import { SplitcError } from '../errors.js';
import { MemoryStorage, Tensor } from '../tensor.js';
import { checkLocationText, resolveDataFile } from './external-path.js';
import { type Ctx, type Extra, readStringEntry } from './raw.js';
import { ExternalStorage, FieldStorage, TensorField } from './storage.js';
import { WireReader, WireType } from './wire.js';

/** float_data/int32_data/int64_data/double_data/uint64_data, packed or with their element wire type. */
function isTypedDataField(f: number, wt: number): boolean {
  switch (f) {
    case TensorField.FLOAT:
      return wt === WireType.LEN || wt === WireType.I32;
    case TensorField.DOUBLE:
      return wt === WireType.LEN || wt === WireType.I64;
    case TensorField.INT32:
    case TensorField.INT64:
    case TensorField.UINT64:
      return wt === WireType.LEN || wt === WireType.VARINT;
    default:
      return false;
  }
}

export function readTensor(r: WireReader, ctx: Ctx): Tensor {
  const dims: number[] = [];
  let dtype = 0;
  let name = '';
  let doc = '';
  let raw: Uint8Array | undefined;
  let fieldNo = 0;
  const fieldRecords: Uint8Array[] = [];
  const strings: Uint8Array[] = [];
  const ext: [string, string][] = [];
  let location = 0;
  const extra: Extra = [];
  while (!r.done()) {
    const start = r.pos;
    const f = r.next();
    const wt = r.wt;
    if (f === 1 && (wt === WireType.LEN || wt === WireType.VARINT)) {
      if (wt === WireType.LEN) {
        const sub = r.message('tensor dims');
        while (!sub.done()) dims.push(sub.int64Number());
      } else dims.push(r.int64Number());
    } else if (f === 2 && wt === WireType.VARINT) dtype = r.uint();
    else if (f === 8 && wt === WireType.LEN) name = r.string();
    else if (f === 12 && wt === WireType.LEN) doc = r.string();
    else if (f === 9 && wt === WireType.LEN) raw = r.bytes();
    else if (f === 6 && wt === WireType.LEN) strings.push(r.bytes());
    else if (f === 13 && wt === WireType.LEN) {
      ext.push(readStringEntry(r.message('external data entry')));
    } else if (f === 14 && wt === WireType.VARINT) location = r.uint();
    else if (isTypedDataField(f, wt) && (fieldNo === 0 || fieldNo === f)) {
      r.skip(wt);
      fieldNo = f;
      fieldRecords.push(r.buf.subarray(start, r.pos));
    } else extra.push(r.skipRecord(start, wt));
  }
  for (const d of dims) if (d < 0 || !Number.isSafeInteger(d)) r.malformed(`tensor '${name}' has invalid dimension ${d}`);
  let t: Tensor;
  if (location === 1) {
    t = new Tensor(name, dtype, dims, externalStorage(name, dtype, dims, ext, ctx));
  } else if (dtype === DataType.STRING) {
    t = new Tensor(name, dtype, dims, new MemoryStorage(new Uint8Array(0)), strings);
  } else if (raw) {
    t = new Tensor(name, dtype, dims, new MemoryStorage(raw));
  } else if (fieldNo) {
    t = new Tensor(name, dtype, dims, new FieldStorage(dtype, fieldNo, fieldRecords));
  } else {
    t = new Tensor(name, dtype, dims, new MemoryStorage(new Uint8Array(0)));
  }
  t.docString = doc;
  if (extra.length) t.extra = extra;
  return t;
}

function externalStorage(name: string, dtype: number, dims: number[], entries: [string, string][], ctx: Ctx): ExternalStorage {
  const get = (k: string): string | undefined => entries.find(([key]) => key === k)?.[1];
  const location = get('location');
  if (!location) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' is stored externally but names no location`, { hint: 'the model file is corrupted' });
  }
  if (!ctx.baseDir) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' is stored in external file '${location}' but the model was read from memory`, {
      hint: 'load the model from its file path so external data can be found',
    });
  }
  checkLocationText(location, `tensor '${name}'`);
  // Plain decimal digits only: Number() would read '' and ' ' as 0 and '0x10' as 16.
  const count = (s: string): number => (/^[0-9]+$/.test(s) ? Number(s) : NaN);
  const offsetStr = get('offset');
  const offset = offsetStr === undefined ? 0 : count(offsetStr);
  const expected = byteSizeOf(dtype, dims.reduce((a, b) => a * b, 1));
  const lengthStr = get('length');
  const length = lengthStr === undefined ? expected : count(lengthStr);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new SplitcError('E_EXTERNAL_DATA', `tensor '${name}' has invalid external offset/length (${JSON.stringify(offsetStr)}, ${JSON.stringify(lengthStr)})`, {
      hint: 'offset and length must be non-negative decimal integers',
    });
  }
  if (length !== expected) {
    throw new SplitcError('E_TENSOR', `tensor '${name}' (${dtypeName(dtype)}[${dims.join(',')}]) has external length ${length}, expected ${expected}`);
  }
  // Containment (no '..', absolute path or link out of the folder) and a regular file,
  // checked before anything reads or stats the target.
  const { realFile, size } = resolveDataFile(ctx.baseDir, ctx.realBaseDir(), location, `tensor '${name}'`);
  if (offset + length > size) {
    throw new SplitcError(
      'E_EXTERNAL_DATA',
      `external data file '${location}' is too short for tensor '${name}': needs bytes ${offset}..${offset + length}, file has ${size}`,
      { hint: 'the data file is truncated or belongs to another version of the model' },
    );
  }
  const others = entries.filter(([k]) => k !== 'location' && k !== 'offset' && k !== 'length');
  // The resolved path: swapping a link after the check cannot redirect later reads.
  return new ExternalStorage(realFile, location, offset, length, others);
}
