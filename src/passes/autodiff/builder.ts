// Emitting gradient ops: standard ONNX operators appended after the forward graph, in the
// form each op takes at the model's opset (axes as attributes or as inputs), with unique
// names, cached constants and cached Shape nodes. Rules talk to this class only.

import { toAttribute, type AttrInput } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { type Dim, type Graph, type Model, Node, type TensorType, tensorType, Value } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { gradTuning, type GradTuning, type GradTuningOptions } from './tuning.js';

/** What the caller knows of an emitted value's type (either part may be unknown). */
export interface OutInfo {
  name?: string;
  dtype?: DataType;
  shape?: Dim[] | null;
}

export class GradBuilder {
  readonly graph: Graph;
  readonly opset: number;
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, Value>();
  private readonly shapes = new Map<Value, Value>();
  private readonly created = new WeakSet<Node>();
  /** Prefix of generated names (the forward node being differentiated, when set). */
  scope = 'grad';

  /** Where the rules switch formulations (AutodiffOptions.tuning). */
  readonly tuning: GradTuning;
  /** Values made once per builder, by key (flipped weights, one-hot kernels). */
  private readonly made = new Map<string, Value>();

  constructor(
    readonly model: Model,
    tuning: GradTuningOptions = {},
  ) {
    this.tuning = gradTuning(tuning);
    this.graph = model.graph;
    this.opset = model.opset;
    for (const v of this.graph.definedValues()) this.names.add(v.name);
    for (const n of this.graph.nodes) if (n.name) this.names.add(n.name);
    for (const v of this.graph.outputs) this.names.add(v.name);
  }

  /** The value made for `key` by this builder, made now by `make` the first time. */
  memo(key: string, make: () => Value): Value {
    let v = this.made.get(key);
    if (!v) this.made.set(key, (v = make()));
    return v;
  }

  /** A name not yet used in the graph, reserved from now on. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  taken(name: string): boolean {
    return this.names.has(name);
  }

  /** Reserve an exact name (a graph output's); false when it is taken. */
  claim(name: string): boolean {
    if (this.names.has(name)) return false;
    this.names.add(name);
    return true;
  }

  private typeOf(info: OutInfo | undefined): TensorType | null {
    if (info?.dtype === undefined) return null;
    return tensorType(info.dtype, info.shape ? [...info.shape] : null);
  }

  opMulti(opType: string, inputs: (Value | null)[], outputs: number, attrs: Record<string, AttrInput> = {}, out: OutInfo[] = []): Value[] {
    const base = `${this.scope}/${opType}`;
    const values = Array.from({ length: outputs }, (_, i) => new Value(this.fresh(out[i]?.name ?? `${base}_out${i}`), this.typeOf(out[i])));
    const attributes = Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => toAttribute(k, v));
    const node = new Node('', opType, inputs, values, { name: this.fresh(base), attributes });
    this.created.add(node);
    this.graph.appendNode(node);
    return values;
  }

  /**
   * Move the nodes this builder made that `values` depend on (through such nodes only) in
   * front of `anchor`, inputs first. The builder appends at the end of the graph; this is for
   * values a forward node is rebuilt from, which must depend only on values defined before
   * `anchor` and on the builder's own nodes.
   */
  hoist(values: Value[], anchor: Node): void {
    const order: Node[] = [];
    const seen = new Set<Node>();
    const visit = (v: Value | null): void => {
      const p = v?.producer();
      if (!p || seen.has(p) || !this.created.has(p)) return;
      seen.add(p);
      p.inputs.forEach(visit);
      order.push(p);
    };
    values.forEach(visit);
    for (const m of order) {
      this.graph.nodes.unlink(m);
      this.graph.nodes.insertBefore(anchor, m);
    }
  }

  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput> = {}, out?: OutInfo): Value {
    return this.opMulti(opType, inputs, 1, attrs, out ? [out] : [])[0]!;
  }

  /** A constant (an initializer; cached by content, so repeated constants are shared). */
  constant(dtype: DataType, dims: number[], data: ArrayLike<number>): Value {
    // Small constants (scalars, axes, shapes) are shared; large ones are not worth a key.
    const key = data.length <= 64 ? `${dtype}|${dims.join(',')}|${Array.from(data).join(',')}` : null;
    const hit = key !== null ? this.constants.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh(`${this.scope}/const`);
    const t = Tensor.fromArray(name, dtype, dims, data);
    let v: Value;
    if (this.model.irVersion >= 4) {
      v = this.graph.addInitializer(new Value(name, tensorType(dtype, [...dims])), t);
    } else {
      v = new Value(name, tensorType(dtype, [...dims]));
      this.graph.nodes.insertAfter(null, new Node('', 'Constant', [], [v], { name: this.fresh(`${name}/Constant`), attributes: [toAttribute('value', t)] }));
    }
    if (key !== null) this.constants.set(key, v);
    return v;
  }

  scalar(value: number, dtype: DataType): Value {
    return this.constant(dtype, [], [value]);
  }
  ints(values: number[]): Value {
    return this.constant(DataType.INT64, [values.length], values);
  }

  /** Shape(v), one node per value. */
  shapeOf(v: Value): Value {
    let s = this.shapes.get(v);
    if (!s) {
      s = this.op('Shape', [v], {}, { dtype: DataType.INT64, shape: v.shape ? [v.shape.length] : null });
      this.shapes.set(v, s);
    }
    return s;
  }

  /** The shape of `v` as a constant when static, else as Shape(v). */
  shapeValue(v: Value): Value {
    const s = staticShape(v);
    return s ? this.ints(s) : this.shapeOf(v);
  }

  // ---- elementwise helpers (types follow the first operand) ----
  add(a: Value, b: Value, like?: Value): Value {
    return this.op('Add', [a, b], {}, infoOf(like ?? a));
  }
  sub(a: Value, b: Value, like?: Value): Value {
    return this.op('Sub', [a, b], {}, infoOf(like ?? a));
  }
  mul(a: Value, b: Value, like?: Value): Value {
    return this.op('Mul', [a, b], {}, infoOf(like ?? a));
  }
  div(a: Value, b: Value, like?: Value): Value {
    return this.op('Div', [a, b], {}, infoOf(like ?? a));
  }
  neg(a: Value): Value {
    return this.op('Neg', [a], {}, infoOf(a));
  }
  /** Sum of several values (one Sum node; the value itself when there is one). */
  sum(values: Value[], like?: Value): Value {
    if (values.length === 1) return values[0]!;
    return this.op('Sum', values, {}, infoOf(like ?? values[0]!));
  }
  cast(x: Value, to: DataType): Value {
    return this.op('Cast', [x], { to }, { dtype: to, shape: x.shape });
  }

  /** A tensor of `dtype` filled with `value`, of the shape held by the 1-D int64 `shape` (`dims`: that shape, as far as known). */
  filled(shape: Value, value: number, dtype: DataType, dims: Dim[] | null): Value {
    return this.op('ConstantOfShape', [shape], { value: Tensor.fromArray('value', dtype, [1], [value]) }, { dtype, shape: dims });
  }

  /** Zeros with the shape and dtype of `like`. */
  zerosLike(like: Value): Value {
    return this.filled(this.shapeValue(like), 0, like.dtype ?? DataType.FLOAT, like.shape ?? null);
  }

  // ---- ops whose form depends on the opset ----
  /** ReduceSum over `axes` (all axes when empty and noopWithEmpty is false). */
  reduceSum(x: Value, axes: number[], keepdims: boolean, out?: OutInfo): Value {
    return this.reduce('ReduceSum', 13, x, axes, keepdims, out);
  }
  reduceMean(x: Value, axes: number[], keepdims: boolean, out?: OutInfo): Value {
    return this.reduce('ReduceMean', 18, x, axes, keepdims, out);
  }
  reduceMax(x: Value, axes: number[], keepdims: boolean, out?: OutInfo): Value {
    return this.reduce('ReduceMax', 18, x, axes, keepdims, out);
  }
  private reduce(op: string, axesAsInputFrom: number, x: Value, axes: number[], keepdims: boolean, out?: OutInfo): Value {
    const info = out ?? { dtype: x.dtype };
    if (this.opset >= axesAsInputFrom) {
      return this.op(op, axes.length ? [x, this.ints(axes)] : [x], { keepdims: keepdims ? 1 : 0 }, info);
    }
    return this.op(op, [x], { ...(axes.length ? { axes } : {}), keepdims: keepdims ? 1 : 0 }, info);
  }

  unsqueeze(x: Value, axes: number[], out?: OutInfo): Value {
    const info = out ?? { dtype: x.dtype };
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.ints(axes)], {}, info) : this.op('Unsqueeze', [x], { axes }, info);
  }
  squeeze(x: Value, axes: number[], out?: OutInfo): Value {
    const info = out ?? { dtype: x.dtype };
    return this.opset >= 13 ? this.op('Squeeze', [x, this.ints(axes)], {}, info) : this.op('Squeeze', [x], { axes }, info);
  }

  /** Slice with static bounds (opset ≥ 10 form). */
  slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[], out?: OutInfo): Value {
    const inputs = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    if (steps) inputs.push(this.ints(steps));
    return this.op('Slice', inputs, {}, out ?? { dtype: x.dtype });
  }

  /** Pad with static pads (opset ≥ 11 form), constant mode with 0 unless told. */
  pad(x: Value, pads: number[], out?: OutInfo): Value {
    return this.op('Pad', [x, this.ints(pads)], { mode: 'constant' }, out ?? { dtype: x.dtype });
  }

  reshape(x: Value, shape: Value, out?: OutInfo): Value {
    return this.op('Reshape', [x, shape], {}, out ?? { dtype: x.dtype });
  }

  /** Reshape `x` to the shape of `like` (a constant when static). */
  reshapeLike(x: Value, like: Value): Value {
    return this.reshape(x, this.shapeValue(like), infoOf(like));
  }

  transpose(x: Value, perm: number[], out?: OutInfo): Value {
    const shape = x.shape && x.shape.length === perm.length ? perm.map((p) => x.shape![p]!) : null;
    return this.op('Transpose', [x], { perm }, out ?? { dtype: x.dtype, shape });
  }

  /**
   * Reduce a gradient `dy` (with the broadcast shape of `y`) back to the shape of operand
   * `x`: sum over the leading axes `x` lacks and over the axes where `x` has size 1 and
   * `y` does not. Needs the ranks of `x` and `y`.
   */
  sumToShape(dy: Value, x: Value, y: Value): Value {
    const xs = x.shape;
    const ys = y.shape;
    if (!xs || !ys) {
      throw new SplitcError('E_AUTODIFF', `cannot reduce the gradient of broadcast operand '${x.name}' to its shape: the rank of '${xs ? y.name : x.name}' is unknown`, {
        hint: 'give the input shapes (--shape name=1x3x224x224) so shape inference can type the graph',
      });
    }
    const lead = ys.length - xs.length;
    const axes: number[] = [];
    for (let i = 0; i < lead; i++) axes.push(i);
    for (let i = 0; i < xs.length; i++) {
      const yd = ys[i + lead];
      if (xs[i] === 1 && yd !== 1) axes.push(i + lead);
    }
    if (axes.length === 0) return dy;
    const reduced = this.reduceSum(dy, axes, true, { dtype: x.dtype ?? DataType.FLOAT });
    return lead > 0 ? this.reshapeLike(reduced, x) : reduced;
  }
}

/** Type information of `v`, for an emitted value of the same type. */
export function infoOf(v: Value): OutInfo {
  return { dtype: v.dtype, shape: v.shape };
}

/** The shape of `v` when every dim is a known number. */
export function staticShape(v: Value): number[] | null {
  const s = v.shape;
  if (!s || !s.every((d): d is number => typeof d === 'number' && d >= 0)) return null;
  return s;
}

/** `staticShape`, or a coded error naming the value and what needs it. */
export function requireStaticShape(v: Value, what: string): number[] {
  const s = staticShape(v);
  if (!s) {
    throw new SplitcError('E_AUTODIFF', `${what} needs the static shape of '${v.name}', which is ${v.shape ? `[${v.shape.map((d) => d ?? '?').join(',')}]` : 'unknown'}`, {
      hint: 'give every input a static shape (--shape name=1x3x224x224) before differentiating',
    });
  }
  return s;
}
