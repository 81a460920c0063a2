// The one way passes add ops to a graph: fresh names from a NameScope, constants (an
// initializer, or a Constant node where initializers are not allowed: IR < 4, subgraphs),
// and each op in the form it takes at the graph's opset (axes, bounds, pads as attributes
// or as inputs). Gradients (GradBuilder), bottlenecks, lowerings and opset upgrades use it.

import { toAttribute, type AttrInput } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { type Dim, type Graph, type Model, Node, type TensorType, tensorType, Value } from '../ir/graph.js';
import { NameScope } from '../ir/names.js';
import { Tensor, type TypedArray } from '../ir/tensor.js';

/** What the caller knows of an emitted value: a name to start from and its type (any part may be unknown). */
export interface OutInfo {
  name?: string;
  dtype?: DataType;
  shape?: Dim[] | null;
}

type ConstantData = ArrayLike<number> | TypedArray;

export interface EmitterOptions {
  /** Default-domain opset the ops are written for. */
  opset: number;
  /** Constants as initializers (IR ≥ 4, the main graph); else as Constant nodes. */
  initializers: boolean;
  /**
   * Where new nodes go. 'append' (default): at the end of the graph, Constant nodes at its
   * start (so they precede every use, also after `hoist`). 'start' / 'end': after the
   * graph's first / last node as it is now, each new node becoming the anchor of the next.
   */
  at?: 'append' | 'start' | 'end';
  /**
   * How nodes and the constant operands of op forms are named. 'scope' (default): nodes
   * `${scope}/${op}`, operands constants shared by content, `${scope}/const`. 'output':
   * nodes `${out.name}/${op}`, operands `${out.name}.${role}` (`.starts`, `.pads`…).
   */
  naming?: 'scope' | 'output';
  /** The names already taken (default: those of the graph). */
  names?: NameScope;
  /** Prefix of generated names (see `naming`). */
  scope?: string;
}

type Cursor = { kind: 'append' } | { kind: 'after'; anchor: Node | null } | { kind: 'before'; node: Node };

export class Emitter {
  readonly opset: number;
  readonly names: NameScope;
  /** Prefix of generated names (the node being differentiated or lowered, when set). */
  scope: string;
  private readonly initializers: boolean;
  private readonly naming: 'scope' | 'output';
  private cursor: Cursor;
  private readonly constants = new Map<string, Value>();
  private readonly shapes = new Map<Value, Value>();
  private readonly created = new WeakSet<Node>();

  constructor(
    readonly graph: Graph,
    opts: EmitterOptions,
  ) {
    this.opset = opts.opset;
    this.initializers = opts.initializers;
    this.naming = opts.naming ?? 'scope';
    this.names = opts.names ?? NameScope.ofGraph(graph);
    this.scope = opts.scope ?? '';
    const at = opts.at ?? 'append';
    this.cursor = at === 'append' ? { kind: 'append' } : { kind: 'after', anchor: at === 'end' ? graph.nodes.last() : null };
  }

  /** An emitter for the main graph of `model`: constants as initializers from IR 4. */
  static forModel(model: Model, opts: Omit<EmitterOptions, 'opset' | 'initializers'> = {}): Emitter {
    return new Emitter(model.graph, { ...opts, opset: model.opset, initializers: model.irVersion >= 4 });
  }

  /** From now on, insert in front of `node` (constants too); returns this emitter. */
  before(node: Node): this {
    this.cursor = { kind: 'before', node };
    return this;
  }

  /** A name not yet used in the graph, reserved from now on. */
  fresh(base: string): string {
    return this.names.fresh(base);
  }

  private place(n: Node, isConstant: boolean): void {
    const c = this.cursor;
    if (c.kind === 'append') {
      if (isConstant) this.graph.nodes.insertAfter(null, n);
      else this.graph.appendNode(n);
    } else if (c.kind === 'after') {
      this.graph.nodes.insertAfter(c.anchor, n);
      c.anchor = n;
    } else {
      this.graph.nodes.insertBefore(c.node, n);
    }
  }

  // ---- nodes and constants ----

  /** A node with `outputs` outputs; `nodeName` names it exactly (else a fresh name, see EmitterOptions.naming). */
  opMulti(opType: string, inputs: (Value | null)[], outputs: number, attrs: Record<string, AttrInput> = {}, out: OutInfo[] = [], nodeName?: string): Value[] {
    const base = `${this.scope}/${opType}`;
    const values = Array.from({ length: outputs }, (_, i) => new Value(this.fresh(out[i]?.name ?? `${base}_out${i}`), typeOf(out[i])));
    const attributes = Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => toAttribute(k, v));
    const outName = out[0]?.name;
    const name = nodeName || this.fresh(this.naming === 'output' && outName !== undefined ? `${outName}/${opType}` : base);
    const node = new Node('', opType, inputs, values, { name, attributes });
    this.created.add(node);
    this.place(node, false);
    return values;
  }

  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput> = {}, out?: OutInfo, nodeName?: string): Value {
    return this.opMulti(opType, inputs, 1, attrs, out ? [out] : [], nodeName)[0]!;
  }

  /** A constant shared by content (small ones: scalars, axes, shapes), named `${scope}/const`. */
  constant(dtype: DataType, dims: number[], data: ConstantData): Value {
    const key = data.length <= 64 ? `${dtype}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>).join(',')}` : null;
    const hit = key !== null ? this.constants.get(key) : undefined;
    if (hit) return hit;
    const v = this.namedConstant(`${this.scope}/const`, dtype, dims, data);
    if (key !== null) this.constants.set(key, v);
    return v;
  }

  /** A constant of its own, named from `base`: an initializer, or a Constant node. */
  namedConstant(base: string, dtype: DataType, dims: number[], data: ConstantData): Value {
    const name = this.fresh(base);
    const t = Tensor.fromArray(name, dtype, dims, data);
    const v = new Value(name, tensorType(dtype, [...dims]));
    if (this.initializers) return this.graph.addInitializer(v, t);
    this.place(new Node('', 'Constant', [], [v], { name: this.fresh(`${name}/Constant`), attributes: [toAttribute('value', t)] }), true);
    return v;
  }

  scalar(value: number, dtype: DataType): Value {
    return this.constant(dtype, [], [value]);
  }
  ints(values: number[]): Value {
    return this.constant(DataType.INT64, [values.length], values);
  }

  /** The constant operand `role` of an op whose result is `out` (see EmitterOptions.naming). */
  private operand(out: OutInfo | undefined, role: string, dtype: DataType, values: number[]): Value {
    if (this.naming === 'output' && out?.name !== undefined) return this.namedConstant(`${out.name}.${role}`, dtype, dtype === DataType.INT64 ? [values.length] : [], values);
    return dtype === DataType.INT64 ? this.ints(values) : this.scalar(values[0]!, dtype);
  }

  /**
   * Move the nodes this emitter made that `values` depend on (through such nodes only) in
   * front of `anchor`, inputs first. For values a node is rebuilt from while the emitter
   * appends at the end of the graph: they must depend only on values defined before
   * `anchor` and on the emitter's own nodes.
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

  // ---- shapes ----

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

  // ---- elementwise (types follow the first operand) ----
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
  cast(x: Value, to: DataType, out?: OutInfo): Value {
    return this.op('Cast', [x], { to }, { shape: x.shape, ...out, dtype: to });
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
      return this.op(op, axes.length ? [x, this.operand(out, 'axes', DataType.INT64, axes)] : [x], { keepdims: keepdims ? 1 : 0 }, info);
    }
    return this.op(op, [x], { ...(axes.length ? { axes } : {}), keepdims: keepdims ? 1 : 0 }, info);
  }

  unsqueeze(x: Value, axes: number[], out?: OutInfo): Value {
    return this.axesOp('Unsqueeze', x, axes, out);
  }
  squeeze(x: Value, axes: number[], out?: OutInfo): Value {
    return this.axesOp('Squeeze', x, axes, out);
  }
  private axesOp(op: 'Squeeze' | 'Unsqueeze', x: Value, axes: number[], out?: OutInfo): Value {
    const info = out ?? { dtype: x.dtype };
    return this.opset >= 13 ? this.op(op, [x, this.operand(out, 'axes', DataType.INT64, axes)], {}, info) : this.op(op, [x], { axes }, info);
  }

  /** Slice with static bounds (attributes before opset 10, where `steps` cannot be given). */
  slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[], out?: OutInfo): Value {
    const info = out ?? { dtype: x.dtype };
    if (this.opset < 10 && !steps) return this.op('Slice', [x], { starts, ends, axes }, info);
    const inputs = [x, this.operand(out, 'starts', DataType.INT64, starts), this.operand(out, 'ends', DataType.INT64, ends), this.operand(out, 'axes', DataType.INT64, axes)];
    if (steps) inputs.push(this.operand(out, 'steps', DataType.INT64, steps));
    return this.op('Slice', inputs, {}, info);
  }

  /** Pad: `pads` = [begin of each axis…, end of each axis…] (attribute before opset 11, input after); `mode` when given. */
  pad(x: Value, pads: number[], out?: OutInfo, mode?: string): Value {
    const info = out ?? { dtype: x.dtype };
    const modeAttr: Record<string, AttrInput> = mode === undefined ? {} : { mode };
    if (this.opset < 2) return this.op('Pad', [x], { paddings: pads, ...modeAttr }, info);
    if (this.opset < 11) return this.op('Pad', [x], { pads, ...modeAttr }, info);
    return this.op('Pad', [x, this.operand(out, 'pads', DataType.INT64, pads)], modeAttr, info);
  }

  /** Clip to [lo, hi] (float tensors; bounds as attributes before opset 11). */
  clip(x: Value, lo: number, hi: number, out: OutInfo & { dtype: DataType }): Value {
    if (this.opset < 11) return this.op('Clip', [x], { min: floatAttr('min', lo), max: floatAttr('max', hi) }, out);
    const min = this.operand(out, 'min', out.dtype, [lo]);
    const max = this.operand(out, 'max', out.dtype, [hi]);
    return this.op('Clip', [x, min, max], {}, out);
  }

  /**
   * Reshape to `shape`: a 1-D int64 value, or static dims (a 0 copies the input's dim there,
   * how a symbolic batch dim passes through: give the declared result in `out.shape` then).
   */
  reshape(x: Value, shape: Value | number[], out?: OutInfo): Value {
    if (!Array.isArray(shape)) return this.op('Reshape', [x, shape], {}, out ?? { dtype: x.dtype });
    const s = this.operand(out, 'shape', DataType.INT64, shape);
    return this.op('Reshape', [x, s], {}, { dtype: x.dtype, ...out, shape: out?.shape ?? shape });
  }

  /** Reshape `x` to the shape of `like` (a constant when static). */
  reshapeLike(x: Value, like: Value): Value {
    return this.reshape(x, this.shapeValue(like), infoOf(like));
  }

  transpose(x: Value, perm: number[], out?: OutInfo): Value {
    const shape = x.shape && x.shape.length === perm.length ? perm.map((p) => x.shape![p]!) : null;
    return this.op('Transpose', [x], { perm }, out ?? { dtype: x.dtype, shape });
  }
}

function typeOf(info: OutInfo | undefined): TensorType | null {
  if (info?.dtype === undefined) return null;
  return tensorType(info.dtype, info.shape ? [...info.shape] : null);
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

/** Dim `i` of `v`: a number when static, else a 1-D int64 value sliced from Shape(v). */
export function dimPart(b: Emitter, v: Value, i: number): number | Value {
  const d = v.shape?.[i];
  if (typeof d === 'number' && d >= 0) return d;
  return b.slice(b.shapeOf(v), [i], [i + 1], [0], undefined, { dtype: DataType.INT64, shape: [1] });
}

/** A 1-D int64 shape from numbers and 1-D int64 values; a constant when every part is a number. */
export function shapeFromParts(b: Emitter, parts: (number | Value)[]): Value {
  if (parts.every((p): p is number => typeof p === 'number')) return b.ints(parts);
  const pieces: Value[] = [];
  let run: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') {
      run.push(p);
      continue;
    }
    if (run.length) pieces.push(b.ints(run));
    run = [];
    pieces.push(p);
  }
  if (run.length) pieces.push(b.ints(run));
  return pieces.length === 1 ? pieces[0]! : b.op('Concat', pieces, { axis: 0 }, { dtype: DataType.INT64, shape: [parts.length] });
}

/** A float attribute even for integral values (Clip's min/max, the Random ops' seed, low and high are FLOAT attributes). */
export function floatAttr(name: string, v: number) {
  return { name, type: 1 as const, value: v };
}
