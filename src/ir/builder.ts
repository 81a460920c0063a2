// A small builder for graphs in code: tests, synthetic benchmarks and passes that emit
// new subgraphs use it instead of hand-wiring Values and Nodes.

import { DataType } from './dtype.js';
import { type Attribute, AttrType, attr, Graph, Model, Node, type Shape, tensorType, Value } from './graph.js';
import { numberedNames } from './names.js';
import { Tensor, type TypedArray } from './tensor.js';

export type AttrInput = number | number[] | string | Tensor | Graph | Attribute;
export interface OpOptions {
  name?: string;
  domain?: string;
  /** Names for the outputs (default: generated). */
  outputNames?: string[];
}

export class GraphBuilder {
  readonly graph: Graph;
  private readonly fresh = numberedNames();
  constructor(name = 'main') {
    this.graph = new Graph(name);
  }

  input(name: string, dtype: DataType, shape: Shape | null): Value {
    return this.graph.addInput(new Value(name, tensorType(dtype, shape)));
  }

  /** An initializer from numbers (or a typed array). */
  init(name: string, dtype: DataType, dims: number[], data: ArrayLike<number> | TypedArray): Value {
    const t = Tensor.fromArray(name, dtype, dims, data);
    return this.graph.addInitializer(new Value(name, tensorType(dtype, [...dims])), t);
  }

  /** A deterministic pseudo-random float32 initializer (weights for synthetic models). */
  weight(name: string, dims: number[], seed = 1, scale = 0.1): Value {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      data[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
    }
    return this.init(name, DataType.FLOAT, dims, data);
  }

  /** A Constant node holding the tensor (the PaddleOCR way of storing weights). */
  constant(name: string, dtype: DataType, dims: number[], data: ArrayLike<number> | TypedArray): Value {
    const t = Tensor.fromArray(name, dtype, dims, data);
    return this.op('Constant', [], { value: t }, { outputNames: [name] });
  }

  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput> = {}, opts: OpOptions = {}): Value {
    return this.opMulti(opType, inputs, 1, attrs, opts)[0]!;
  }

  opMulti(opType: string, inputs: (Value | null)[], outputs: number, attrs: Record<string, AttrInput> = {}, opts: OpOptions = {}): Value[] {
    const outs = Array.from({ length: outputs }, (_, i) => new Value(opts.outputNames?.[i] ?? this.fresh(opType.toLowerCase())));
    const attributes = Object.entries(attrs).map(([k, v]) => toAttribute(k, v));
    const n = new Node(opts.domain ?? '', opType, inputs, outs, { name: opts.name ?? this.fresh(opType), attributes });
    for (const sg of n.subgraphs()) sg.parentNode = n;
    this.graph.appendNode(n);
    return outs;
  }

  output(v: Value, type?: { dtype: DataType; shape: Shape | null }): Value {
    if (type) v.type = tensorType(type.dtype, type.shape);
    this.graph.outputs.push(v);
    return v;
  }

  model(opts: { opset?: number; irVersion?: number; extraOpsets?: [string, number][] } = {}): Model {
    const m = new Model(this.graph, opts.irVersion ?? 8, opts.opset ?? 17);
    for (const [d, v] of opts.extraOpsets ?? []) m.opsetImports.set(d, v);
    m.producerName = 'splitc-builder';
    return m;
  }
}

export function toAttribute(name: string, v: AttrInput): Attribute {
  if (typeof v === 'number') return Number.isInteger(v) ? attr.int(name, v) : attr.float(name, v);
  if (typeof v === 'string') return attr.string(name, v);
  if (Array.isArray(v)) return v.every(Number.isInteger) ? attr.ints(name, v) : attr.floats(name, v);
  if (v instanceof Tensor) return attr.tensor(name, v);
  if (v instanceof Graph) return attr.graph(name, v);
  return { ...v, name } as Attribute;
}

export { AttrType, attr };
