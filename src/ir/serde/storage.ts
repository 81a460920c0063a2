// Tensor storages that know the file format: typed repeated fields of TensorProto
// (decoded on demand) and external data files (read lazily, checked at load).

import * as fs from 'node:fs';
import { DataType, dtypeBits, dtypeName } from '../dtype.js';
import { SplitcError } from '../errors.js';
import type { TensorStorage } from '../tensor.js';
import { WireReader, WireType } from './wire.js';

/** TensorProto field numbers of the typed data fields. */
export const TensorField = { FLOAT: 4, INT32: 5, STRING: 6, INT64: 7, DOUBLE: 10, UINT64: 11 } as const;

/**
 * Data stored in float_data / int32_data / int64_data / double_data / uint64_data.
 * `records` are the field's full wire records (tag included), re-emitted verbatim.
 */
export class FieldStorage implements TensorStorage {
  readonly kind = 'field';
  private cache: Uint8Array | undefined;
  constructor(
    readonly dtype: number,
    readonly field: number,
    readonly records: Uint8Array[],
  ) {}
  get byteLength(): number | undefined {
    return this.cache?.byteLength;
  }
  read(): Uint8Array {
    if (!this.cache) this.cache = decodeFieldData(this.dtype, this.field, this.records);
    return this.cache;
  }
}

function decodeFieldData(dtype: number, field: number, records: Uint8Array[]): Uint8Array {
  const values: (number | bigint)[] = [];
  for (const rec of records) {
    const r = new WireReader(rec, 0, rec.byteLength, 'tensor data');
    const [, wt] = r.tag();
    const readOne = (): number | bigint => {
      switch (field) {
        case TensorField.FLOAT:
          return r.fixed32();
        case TensorField.DOUBLE:
          return r.double();
        default:
          return r.int64();
      }
    };
    if (wt === WireType.LEN) {
      const [s, e] = r.span();
      const inner = r.sub(s, e, 'tensor data');
      while (!inner.done()) {
        values.push(
          field === TensorField.FLOAT ? inner.fixed32() : field === TensorField.DOUBLE ? inner.double() : inner.int64(),
        );
      }
    } else values.push(readOne());
  }
  const bits = dtypeBits(dtype);
  if (bits === 0 || bits % 8 !== 0) {
    throw new SplitcError('E_TENSOR', `typed-field data for ${dtypeName(dtype)} tensors is not supported`);
  }
  const width = bits / 8;
  const out = new Uint8Array(values.length * width);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    const o = i * width;
    if (field === TensorField.FLOAT) dv.setUint32(o, Number(v), true);
    else if (field === TensorField.DOUBLE) dv.setFloat64(o, Number(v), true);
    else if (width === 8) dv.setBigUint64(o, BigInt.asUintN(64, BigInt(v)), true);
    else if (width === 4) dv.setUint32(o, Number(BigInt.asUintN(32, BigInt(v))), true);
    else if (width === 2) dv.setUint16(o, Number(BigInt.asUintN(16, BigInt(v))), true);
    else out[o] = Number(BigInt.asUintN(8, BigInt(v)));
  });
  return out;
}

/** Bytes in a separate file, read when asked. */
export class ExternalStorage implements TensorStorage {
  readonly kind = 'external';
  constructor(
    /** Absolute path of the data file. */
    readonly path: string,
    /** Location as written in the model (relative to the model's folder). */
    readonly location: string,
    readonly offset: number,
    readonly length: number,
    /** Other external_data entries (e.g. checksum), kept verbatim. */
    readonly otherEntries: [string, string][] = [],
  ) {}
  get byteLength(): number {
    return this.length;
  }
  read(): Uint8Array {
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'r');
    } catch (e) {
      throw new SplitcError('E_EXTERNAL_DATA', `external data file '${this.location}' cannot be opened`, {
        hint: 'keep the data file next to the model file',
        cause: e,
      });
    }
    try {
      const out = new Uint8Array(this.length);
      let done = 0;
      while (done < this.length) {
        const n = fs.readSync(fd, out, done, this.length - done, this.offset + done);
        if (n === 0) {
          throw new SplitcError(
            'E_EXTERNAL_DATA',
            `external data file '${this.location}' is too short: wanted ${this.length} bytes at offset ${this.offset}`,
            { hint: 'the data file is truncated or belongs to another model' },
          );
        }
        done += n;
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
}

export { DataType };
