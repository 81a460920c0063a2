// Inserting small chains of standard ONNX ops into an existing graph at a position, in the
// form each op has at the model's own opset (Clip bounds and Pad's pads as attributes before
// opset 11, Slice bounds as attributes before opset 10), with unique names and typed values.

import { toAttribute, type AttrInput } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import { type Dim, type Graph, Node, tensorType, Value } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';

export class Emitter {
  private anchor: Node | null;
  private readonly names: Set<string>;

  /**
   * @param at 'end': append after the last node; 'start': insert before the first node
   *   (successive emits keep their order).
   */
  constructor(
    readonly graph: Graph,
    readonly opset: number,
    at: 'start' | 'end',
    /** IR version: before 4, constants must be Constant nodes (initializers had to be inputs). */
    private readonly irVersion: number,
  ) {
    this.anchor = at === 'end' ? graph.nodes.last() : null;
    this.names = new Set<string>();
    for (const v of graph.definedValues()) this.names.add(v.name);
    for (const n of graph.nodes) if (n.name) this.names.add(n.name);
    for (const v of graph.outputs) this.names.add(v.name);
  }

  /** A name not yet used in the graph (values and nodes), reserved from now on. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }
  reserve(name: string): void {
    this.names.add(name);
  }

  /** A constant tensor (an initializer, or a Constant node for IR < 4). */
  constant(base: string, dtype: DataType, dims: number[], data: ArrayLike<number>): Value {
    const name = this.fresh(base);
    const t = Tensor.fromArray(name, dtype, dims, data);
    if (this.irVersion >= 4) return this.graph.addInitializer(new Value(name, tensorType(dtype, [...dims])), t);
    const out = new Value(name, tensorType(dtype, [...dims]));
    this.insert(new Node('', 'Constant', [], [out], { name: this.fresh(`${name}/Constant`), attributes: [toAttribute('value', t)] }));
    return out;
  }

  op(opType: string, inputs: (Value | null)[], out: { name: string; dtype: DataType; shape: Dim[] | null }, attrs: Record<string, AttrInput> = {}): Value {
    const value = new Value(this.fresh(out.name), tensorType(out.dtype, out.shape ? [...out.shape] : null));
    const attributes = Object.entries(attrs).map(([k, v]) => toAttribute(k, v));
    this.insert(new Node('', opType, inputs, [value], { name: this.fresh(`${out.name}/${opType}`), attributes }));
    return value;
  }

  /** Clip to [lo, hi] (float tensors). */
  clip(x: Value, lo: number, hi: number, out: { name: string; dtype: DataType; shape: Dim[] | null }): Value {
    if (this.opset < 11) return this.op('Clip', [x], out, { min: floatAttr('min', lo), max: floatAttr('max', hi) });
    const min = this.constant(`${out.name}.min`, out.dtype, [], [lo]);
    const max = this.constant(`${out.name}.max`, out.dtype, [], [hi]);
    return this.op('Clip', [x, min, max], out);
  }

  /** Slice along `axes`. */
  slice(x: Value, starts: number[], ends: number[], axes: number[], out: { name: string; dtype: DataType; shape: Dim[] | null }): Value {
    if (this.opset < 10) return this.op('Slice', [x], out, { starts, ends, axes });
    const s = this.constant(`${out.name}.starts`, DataType.INT64, [starts.length], starts);
    const e = this.constant(`${out.name}.ends`, DataType.INT64, [ends.length], ends);
    const a = this.constant(`${out.name}.axes`, DataType.INT64, [axes.length], axes);
    return this.op('Slice', [x, s, e, a], out);
  }

  /**
   * Reshape to `dims`; a 0 in `dims` copies the input's dim there (how a symbolic batch dim
   * passes through), so give the declared result in `out.shape` when `dims` has one.
   */
  reshape(x: Value, dims: number[], out: { name: string; dtype: DataType; shape?: Dim[] }): Value {
    const shape = this.constant(`${out.name}.shape`, DataType.INT64, [dims.length], dims);
    return this.op('Reshape', [x, shape], { name: out.name, dtype: out.dtype, shape: out.shape ?? dims });
  }

  /** Pad with zeros: `pads` = [begin of each axis…, end of each axis…] (attribute before opset 11, input after). */
  pad(x: Value, pads: number[], out: { name: string; dtype: DataType; shape: Dim[] | null }): Value {
    if (this.opset < 2) return this.op('Pad', [x], out, { paddings: pads });
    if (this.opset < 11) return this.op('Pad', [x], out, { pads });
    const p = this.constant(`${out.name}.pads`, DataType.INT64, [pads.length], pads);
    return this.op('Pad', [x, p], out);
  }

  cast(x: Value, to: DataType, out: { name: string; shape: Dim[] | null }): Value {
    return this.op('Cast', [x], { ...out, dtype: to }, { to });
  }

  private insert(n: Node): void {
    this.graph.nodes.insertAfter(this.anchor, n);
    this.anchor = n;
  }
}

/** A float attribute even for integral values (Clip's min/max, the Random ops' seed, low and high are FLOAT attributes). */
export function floatAttr(name: string, v: number) {
  return { name, type: 1 as const, value: v };
}
