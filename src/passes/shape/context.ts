// What a shape rule sees: the node, its input types and known input values, attribute
// accessors and the opset, plus hooks to report conflicts and to infer subgraphs.

import type { DataType } from '../../ir/dtype.js';
import { AttrType, type Graph, type Node, type Shape, type TensorType, type Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { type KnownElem, type KnownValue, knownValueOf } from './known.js';

/** A rule's answer for one output: type, and the value when it could be computed. */
export interface OutType {
  dtype: DataType;
  /** null: rank unknown. */
  shape: Shape | null;
  value?: KnownValue | null;
}

/** One entry of the rule table: input types and values → output types. */
export type ShapeRule = (c: RuleContext) => readonly (OutType | null | undefined)[];

/** Raised by rules for malformed nodes; the engine turns it into a warning. */
export class RuleError extends Error {}

export interface RuleHost {
  conflict(node: Node, message: string): void;
  inferSubgraph(g: Graph, inputs: readonly (OutType | null)[]): (OutType | null)[];
}

export class RuleContext {
  constructor(
    readonly node: Node,
    /** Opset of the node's domain. */
    readonly opset: number,
    private readonly host: RuleHost,
  ) {
    this.inputs = node.inputs;
  }

  /** The node's inputs (the node's own array: rules only read it). */
  private readonly inputs: readonly (Value | null)[];

  get numInputs(): number {
    return this.inputs.length;
  }
  get numOutputs(): number {
    return this.node.outputs.length;
  }
  input(i: number): Value | null {
    return this.inputs[i] ?? null;
  }
  /** Whether input i is given (optional inputs may be omitted with an empty name). */
  has(i: number): boolean {
    return (this.inputs[i] ?? null) !== null;
  }
  type(i: number): TensorType | null {
    const t = this.inputs[i]?.type;
    return t && t.kind === 'tensor' ? t : null;
  }
  shape(i: number): Shape | null {
    const t = this.inputs[i]?.type;
    return t && t.kind === 'tensor' ? t.shape : null;
  }
  rank(i: number): number | null {
    return this.shape(i)?.length ?? null;
  }
  /** Element type, 0 when unknown. */
  dtype(i: number): DataType {
    return this.type(i)?.dtype ?? 0;
  }
  /** The known value of input i (folded, initializer or Constant). */
  value(i: number): KnownValue | null {
    return knownValueOf(this.input(i));
  }
  /** Elements of a known input when all are numbers. */
  numbers(i: number): number[] | null {
    const v = this.value(i);
    if (!v) return null;
    const out: number[] = [];
    for (const x of v.data) {
      if (typeof x !== 'number') return null;
      out.push(x);
    }
    return out;
  }
  /** Elements of a known input, symbols and unknowns allowed (for shape tensors). */
  elems(i: number): readonly KnownElem[] | null {
    return this.value(i)?.data ?? null;
  }
  /** A single known number (scalar or one-element tensor). */
  scalar(i: number): number | null {
    const v = this.value(i);
    if (!v || v.data.length !== 1) return null;
    const x = v.data[0];
    return typeof x === 'number' ? x : null;
  }

  attrInt(name: string, dflt: number): number;
  attrInt(name: string): number | undefined;
  attrInt(name: string, dflt?: number): number | undefined {
    return this.node.attrInt(name, dflt as number);
  }
  attrInts(name: string): number[] | undefined {
    return this.node.attrInts(name);
  }
  attrFloat(name: string, dflt: number): number {
    return this.node.attrFloat(name, dflt);
  }
  attrFloats(name: string): number[] | undefined {
    return this.node.attrFloats(name);
  }
  attrStr(name: string, dflt: string): string {
    return this.node.attrString(name, dflt);
  }
  attrTensor(name: string): Tensor | undefined {
    return this.node.attrTensor(name);
  }
  attrGraph(name: string): Graph | undefined {
    const a = this.node.attr(name);
    return a?.type === AttrType.GRAPH ? a.value : undefined;
  }
  hasAttr(name: string): boolean {
    return this.node.attributes.has(name);
  }

  /** Report a genuine contradiction in the graph (W_SHAPE_CONFLICT). */
  conflict(message: string): void {
    this.host.conflict(this.node, message);
  }
  /** Type the subgraph's inputs, infer its nodes, and return its outputs' types. */
  subgraph(g: Graph, inputs: readonly (OutType | null)[]): (OutType | null)[] {
    return this.host.inferSubgraph(g, inputs);
  }
  /** Stop the rule: the node is malformed (warning, outputs unknown). */
  fail(message: string): never {
    throw new RuleError(message);
  }
}
