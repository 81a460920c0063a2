// Tensors whose bytes stay where they are: a view into the model file, a lazily read
// external file, or an encoding the serializer understands. The IR never decodes
// protobuf; storages other than memory are provided by the serde layer.

import { byteSizeOf, DataType, dtypeName, type TypedArray, typedArrayCtor } from './dtype.js';
import { SplitcError } from './errors.js';
import { halfBitsToFloat } from './half.js';

// Their home is the dtype table and the half leaf; importers of the tensor module keep finding them here.
export { type TypedArray, typedArrayCtor } from './dtype.js';
export { halfBitsToFloat as halfToFloat } from './half.js';

/** Where a tensor's bytes live. `read()` returns dense little-endian element bytes. */
export interface TensorStorage {
  readonly kind: string;
  /** Dense byte length when known without reading (external data may know it from its length). */
  readonly byteLength: number | undefined;
  read(): Uint8Array;
}

export class MemoryStorage implements TensorStorage {
  readonly kind = 'memory';
  constructor(readonly bytes: Uint8Array) {}
  get byteLength(): number {
    return this.bytes.byteLength;
  }
  read(): Uint8Array {
    return this.bytes;
  }
}

export class Tensor {
  name: string;
  dtype: DataType;
  dims: number[];
  storage: TensorStorage;
  /** For STRING tensors: the elements as raw bytes. */
  strings: Uint8Array[] | undefined;
  docString = '';
  /** Fields the IR does not model (segment, metadata_props, ...), kept verbatim by serde. */
  extra: unknown = undefined;

  constructor(name: string, dtype: DataType, dims: number[], storage: TensorStorage, strings?: Uint8Array[]) {
    this.name = name;
    this.dtype = dtype;
    this.dims = dims;
    this.storage = storage;
    this.strings = strings;
  }

  get elementCount(): number {
    let n = 1;
    for (const d of this.dims) n *= d;
    return n;
  }

  /** Dense size in bytes implied by dtype and dims. */
  get expectedByteLength(): number {
    return byteSizeOf(this.dtype, this.elementCount);
  }

  /** Dense little-endian bytes; external data is read now (not cached). */
  bytes(): Uint8Array {
    const b = this.storage.read();
    if (this.dtype !== DataType.STRING && b.byteLength !== this.expectedByteLength) {
      throw new SplitcError(
        'E_TENSOR',
        `tensor '${this.name}' (${dtypeName(this.dtype)}[${this.dims.join(',')}]) has ${b.byteLength} bytes of data, expected ${this.expectedByteLength}`,
        { hint: 'the tensor data is truncated or its dims are wrong' },
      );
    }
    return b;
  }

  /** Elements as a typed array (a view when aligned, else a copy). Not for string/sub-byte types. */
  toTypedArray(): TypedArray {
    const b = this.bytes();
    const ctor = typedArrayCtor(this.dtype);
    if (!ctor) throw new SplitcError('E_TENSOR', `tensor '${this.name}': no typed array for ${dtypeName(this.dtype)}`);
    const width = ctor.BYTES_PER_ELEMENT;
    if (b.byteOffset % width === 0) return new ctor(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / width);
    const copy = new Uint8Array(b.byteLength);
    copy.set(b);
    return new ctor(copy.buffer, 0, b.byteLength / width);
  }

  /** Elements as JS numbers (int64 beyond 2^53 lose precision). */
  toNumbers(): number[] {
    if (this.dtype === DataType.FLOAT16) {
      const u = new Uint16Array(Uint8Array.from(this.bytes()).buffer);
      return Array.from(u, halfBitsToFloat);
    }
    if (this.dtype === DataType.BOOL) return Array.from(this.bytes(), (x) => (x ? 1 : 0));
    const arr = this.toTypedArray();
    return Array.from(arr as ArrayLike<number | bigint>, (x) => Number(x));
  }

  static fromArray(name: string, dtype: DataType, dims: number[], data: ArrayLike<number> | TypedArray): Tensor {
    const ctor = typedArrayCtor(dtype);
    let bytes: Uint8Array;
    if (dtype === DataType.BOOL) {
      bytes = Uint8Array.from(data as ArrayLike<number>, (x) => (x ? 1 : 0));
    } else if (!ctor) {
      throw new SplitcError('E_TENSOR', `cannot build a ${dtypeName(dtype)} tensor from an array`);
    } else {
      let typed: TypedArray;
      if (data instanceof ctor) typed = data as TypedArray;
      else if (ctor === BigInt64Array || ctor === BigUint64Array) {
        typed = new (ctor as BigInt64ArrayConstructor)(data.length);
        for (let i = 0; i < data.length; i++) (typed as BigInt64Array)[i] = BigInt(Math.trunc(Number((data as ArrayLike<number>)[i])));
      } else typed = (ctor as Float32ArrayConstructor).from(data as ArrayLike<number>);
      bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    }
    return new Tensor(name, dtype, dims, new MemoryStorage(bytes));
  }
}
