// What an opset upgrader sees of the node it rewrites: the versions crossed, the types
// known, errors naming the node, and an Emitter that inserts in front of the node.

import type { AttrInput } from '../../ir/builder.js';
import { cloneGraph } from '../../ir/clone.js';
import type { DataType } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import { Model, type Node, type Shape, type TensorType, type Value } from '../../ir/graph.js';
import type { TypedArray } from '../../ir/tensor.js';
import type { Emitter } from '../emit.js';
import { PassContext } from '../pass.js';
import { inferShapes } from '../shape/infer.js';

/** A planned rewrite of one node: runs only after every node has been checked. */
export type Apply = () => void;

/** Checks a node (throwing E_OPSET) and returns its rewrite, or null when it needs none. */
export type Upgrader = (n: Node, cx: UpgradeContext) => Apply | null;

export interface ScopeOptions {
  from: number;
  to: number;
  facts: TypeFacts;
  /** Constants of the top graph as initializers (else Constant nodes). */
  initializers: boolean;
}

/** A constant's contents. */
export interface ConstTensor {
  dtype: DataType;
  dims: number[];
  data: TypedArray;
}

export class UpgradeContext {
  constructor(
    readonly node: Node,
    private readonly opts: ScopeOptions,
    private readonly emitter: Emitter,
  ) {}
  get from(): number {
    return this.opts.from;
  }
  get to(): number {
    return this.opts.to;
  }
  get facts(): TypeFacts {
    return this.opts.facts;
  }
  /** Whether the upgrade passes the op change at `version`. */
  crosses(version: number): boolean {
    return this.opts.from < version && version <= this.opts.to;
  }
  error(message: string, opts: { hint: string }): SplitcError {
    return new SplitcError('E_OPSET', message, { hint: opts.hint, location: this.node.graph ? `graph '${this.node.graph.name}'` : undefined });
  }
  /** The op changed at `version` in a way this node cannot be rewritten across. */
  unsupported(version: number, what: string, why?: string): SplitcError {
    const n = this.node;
    return this.error(
      `${n.describe()}: ${n.opType} changed at opset ${version} (${what})${why ? `: ${why}` : ''}; cannot upgrade it from opset ${this.from} to ${this.to}`,
      { hint: `upgrade to opset ${version - 1} at most, or re-export the model at opset ${version} or newer` },
    );
  }
  /** A constant in front of this node. */
  constant(name: string, t: ConstTensor): Value {
    return this.emitter.before(this.node).namedConstant(name, t.dtype, t.dims, t.data);
  }
  /** A single-output node in front of this node, its output named from `outBase`; `nodeName` names the node exactly. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput>, outBase: string, type: TensorType | null, nodeName?: string): Value {
    const out = type ? { name: outBase, dtype: type.dtype, shape: type.shape } : { name: outBase };
    return this.emitter.before(this.node).op(opType, inputs, attrs, out, nodeName);
  }
  fresh(base: string): string {
    return this.emitter.fresh(base);
  }
}


/**
 * Element types and shapes of values: as declared, else as shape inference finds them on a
 * copy of the model (the model itself is not annotated). Queried only while planning.
 */
export class TypeFacts {
  static readonly none = new TypeFacts(null);
  private inferred: Map<Value, Value> | null | undefined;
  constructor(private readonly model: Model | null) {}

  dtype(v: Value): DataType | null {
    const dt = v.tensorType?.dtype || this.copyOf(v)?.tensorType?.dtype;
    return dt || null;
  }
  shape(v: Value): Shape | null {
    return v.tensorType?.shape ?? this.copyOf(v)?.tensorType?.shape ?? null;
  }

  private copyOf(v: Value): Value | null {
    if (this.inferred === undefined) this.inferred = this.infer();
    return this.inferred?.get(v) ?? null;
  }

  private infer(): Map<Value, Value> | null {
    if (!this.model) return null;
    const map = new Map<Value, Value>();
    try {
      const copy = new Model(cloneGraph(this.model.graph, map), this.model.irVersion);
      copy.opsetImports.clear();
      for (const [d, v] of this.model.opsetImports) copy.opsetImports.set(d, v);
      copy.functions = this.model.functions;
      inferShapes(copy, { ctx: new PassContext() });
      return map;
    } catch (e) {
      if (e instanceof SplitcError) return null; // a graph the copy cannot take: declared types only
      throw e;
    }
  }
}
