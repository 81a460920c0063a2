// The in-memory model: graphs of nodes joined by values with use-def chains.
// Edges are object references (never indices), so passes can splice nodes freely.

import type { DataType } from './dtype.js';
import { SplitcError } from './errors.js';
import type { Tensor } from './tensor.js';

/** A dimension: a size, a symbol (`N`, `batch`), or unknown (null). */
export type Dim = number | string | null;
export type Shape = Dim[];

export interface TensorType {
  kind: 'tensor';
  dtype: DataType;
  /** null: rank unknown. */
  shape: Shape | null;
}
/** Sequence / map / optional / sparse types: kept verbatim, not interpreted. */
export interface OpaqueType {
  kind: 'opaque';
  raw: Uint8Array;
}
export type ValueType = TensorType | OpaqueType;

export function tensorType(dtype: DataType, shape: Shape | null): TensorType {
  return { kind: 'tensor', dtype, shape };
}

export interface Use {
  node: Node;
  /** Index into node.inputs; -1 for an implicit use from inside a subgraph of `node`. */
  index: number;
}

export class Value {
  name: string;
  type: ValueType | null;
  /** Initializer data when this value is a graph initializer. */
  constValue: Tensor | null = null;
  docString = '';
  /** Whether `type` came from the model file (value_info / inputs / outputs). */
  typeFromFile = false;
  private _meta: Map<string, unknown> | undefined;
  /** Analysis results keyed by pass (e.g. 'shape.known'); never serialized. Created on first use. */
  get meta(): Map<string, unknown> {
    return (this._meta ??= new Map());
  }
  private _producer: Node | null = null;
  private _outputIndex = -1;
  private readonly _uses: Use[] = [];
  /** The graph that owns this value (inputs, initializers and node outputs). */
  graph: Graph | null = null;

  constructor(name: string, type: ValueType | null = null) {
    this.name = name;
    this.type = type;
  }

  producer(): Node | null {
    return this._producer;
  }
  outputIndex(): number {
    return this._outputIndex;
  }
  uses(): readonly Use[] {
    return this._uses;
  }
  /** Nodes that consume this value (each once). */
  consumers(): Node[] {
    return [...new Set(this._uses.map((u) => u.node))];
  }
  isGraphInput(): boolean {
    return this.graph !== null && this._producer === null && this.graph.inputs.includes(this);
  }
  isGraphOutput(): boolean {
    return this.graph !== null && this.graph.outputs.includes(this);
  }
  isInitializer(): boolean {
    return this.constValue !== null;
  }

  get tensorType(): TensorType | null {
    return this.type?.kind === 'tensor' ? this.type : null;
  }
  get dtype(): DataType | undefined {
    return this.tensorType?.dtype;
  }
  get shape(): Shape | null {
    return this.tensorType?.shape ?? null;
  }

  /** @internal */ _setProducer(node: Node | null, index: number): void {
    this._producer = node;
    this._outputIndex = index;
  }
  /** @internal */ _addUse(node: Node, index: number): void {
    this._uses.push({ node, index });
  }
  /** @internal */ _removeUse(node: Node, index: number): void {
    const i = this._uses.findIndex((u) => u.node === node && u.index === index);
    if (i >= 0) this._uses.splice(i, 1);
  }

  /** Point every use of this value at `other` instead (graph outputs too). */
  replaceAllUsesWith(other: Value): void {
    if (other === this) return;
    for (const { node, index } of [...this._uses]) {
      if (index >= 0) node.setInput(index, other);
    }
    const g = this.graph;
    if (g) for (let i = 0; i < g.outputs.length; i++) if (g.outputs[i] === this) g.outputs[i] = other;
  }
}

export const AttrType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** int64 attributes are numbers when they fit in 2^53, else bigint (e.g. INT64_MAX in Slice ends). */
export type Int = number | bigint;

export type AttrValue =
  | { type: 1; value: number }
  | { type: 2; value: Int }
  | { type: 3; value: Uint8Array }
  | { type: 4; value: Tensor }
  | { type: 5; value: Graph }
  | { type: 6; value: number[] }
  | { type: 7; value: Int[] }
  | { type: 8; value: Uint8Array[] }
  | { type: 9; value: Tensor[] }
  | { type: 10; value: Graph[] }
  /** sparse tensors and type protos: raw message bytes, kept verbatim. */
  | { type: 11 | 13; value: Uint8Array }
  | { type: 12 | 14; value: Uint8Array[] };

export type Attribute = AttrValue & {
  name: string;
  /** Function-body attributes referring to the caller's attribute. */
  refAttrName?: string;
  docString?: string;
};

const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

export class Node {
  opType: string;
  /** '' is the default ONNX domain (ai.onnx). */
  domain: string;
  name: string;
  overload = '';
  docString = '';
  readonly attributes = new Map<string, Attribute>();
  private _inputs: (Value | null)[] = [];
  private readonly _outputs: Value[] = [];
  graph: Graph | null = null;
  /** Fields the IR does not model (metadata_props, device configs), kept verbatim by serde. */
  extra: unknown = undefined;
  private _meta: Map<string, unknown> | undefined;
  /** Analysis results keyed by pass (e.g. 'cost'); never serialized. Created on first use. */
  get meta(): Map<string, unknown> {
    return (this._meta ??= new Map());
  }

  /** @internal linked-list pointers owned by NodeList */
  _prev: Node | null = null;
  /** @internal */ _next: Node | null = null;
  /** @internal */ _erased = false;

  constructor(
    domain: string,
    opType: string,
    inputs: readonly (Value | null)[],
    outputs: readonly Value[] | number,
    opts: { name?: string; attributes?: Attribute[] } = {},
  ) {
    this.domain = domain;
    this.opType = opType;
    this.name = opts.name ?? '';
    for (const a of opts.attributes ?? []) this.attributes.set(a.name, a);
    inputs.forEach((v, i) => {
      this._inputs.push(v);
      v?._addUse(this, i);
    });
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => new Value('')) : outputs;
    outs.forEach((v, i) => {
      if (v.producer() !== null) {
        throw new SplitcError('E_VALUE_REDEFINED', `value '${v.name}' is already produced by node '${v.producer()!.name}'`);
      }
      v._setProducer(this, i);
      this._outputs.push(v);
    });
  }

  get inputs(): readonly (Value | null)[] {
    return this._inputs;
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }

  setInput(index: number, value: Value | null): void {
    const old = this._inputs[index];
    if (old === value) return;
    old?._removeUse(this, index);
    this._inputs[index] = value;
    value?._addUse(this, index);
  }
  appendInput(value: Value | null): void {
    this._inputs.push(value);
    value?._addUse(this, this._inputs.length - 1);
  }
  /** Detach from all inputs (before deletion). */
  dropInputs(): void {
    this._inputs.forEach((v, i) => v?._removeUse(this, i));
    this._inputs = [];
  }

  /** Subgraphs held in attributes (If branches, Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes.values()) {
      if (a.type === AttrType.GRAPH) out.push(a.value);
      else if (a.type === AttrType.GRAPHS) out.push(...a.value);
    }
    return out;
  }

  /** Whether any attribute holds a subgraph (cheap: allocates nothing). */
  hasSubgraphs(): boolean {
    for (const a of this.attributes.values()) if (a.type === AttrType.GRAPH || a.type === AttrType.GRAPHS) return true;
    return false;
  }

  /** Every value this node reads: its inputs and the outer values its subgraphs read. */
  dependencies(): Value[] {
    const out: Value[] = [];
    for (const v of this._inputs) if (v) out.push(v);
    if (this.hasSubgraphs()) out.push(...this.implicitInputs());
    return out;
  }

  /** Values from enclosing scopes read by this node's subgraphs (recursively). */
  implicitInputs(): Value[] {
    const own = this.subgraphs();
    const found = new Set<Value>();
    const visit = (g: Graph): void => {
      for (const n of g.nodes) {
        for (const v of n.inputs) if (v && !isDefinedWithin(v, g)) found.add(v);
        for (const sg of n.subgraphs()) visit(sg);
      }
      for (const v of g.outputs) if (!isDefinedWithin(v, g)) found.add(v);
    };
    for (const sg of own) visit(sg);
    // keep only values not defined inside this node's own subgraphs
    return [...found].filter((v) => !own.some((sg) => ownsTransitively(sg, v)));
  }

  // --- attribute helpers -------------------------------------------------
  attr(name: string): Attribute | undefined {
    return this.attributes.get(name);
  }
  attrInt(name: string, dflt: number): number;
  attrInt(name: string, dflt?: number): number | undefined;
  attrInt(name: string, dflt?: number): number | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type === AttrType.INT) return Number(a.value);
    if (a.type === AttrType.FLOAT) return a.value;
    return dflt;
  }
  attrFloat(name: string, dflt: number): number;
  attrFloat(name: string, dflt?: number): number | undefined;
  attrFloat(name: string, dflt?: number): number | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type === AttrType.FLOAT) return a.value;
    if (a.type === AttrType.INT) return Number(a.value);
    return dflt;
  }
  attrInts(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    if (!a) return undefined;
    if (a.type === AttrType.INTS) return a.value.map(Number);
    if (a.type === AttrType.INT) return [Number(a.value)];
    return undefined;
  }
  attrFloats(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    if (!a) return undefined;
    if (a.type === AttrType.FLOATS) return a.value;
    if (a.type === AttrType.FLOAT) return [a.value];
    return undefined;
  }
  attrString(name: string): string | undefined;
  attrString(name: string, dflt: string): string;
  attrString(name: string, dflt?: string): string | undefined {
    const a = this.attributes.get(name);
    if (a?.type === AttrType.STRING) return utf8.decode(a.value);
    return dflt;
  }
  attrTensor(name: string): Tensor | undefined {
    const a = this.attributes.get(name);
    return a?.type === AttrType.TENSOR ? a.value : undefined;
  }
  setAttr(a: Attribute): void {
    this.attributes.set(a.name, a);
  }

  /** `name` when set, else `opType#index-in-graph`-free description for messages. */
  describe(): string {
    // Unnamed: by its first present output (optional outputs before it may be omitted, '').
    return this.name ? `${this.opType} '${this.name}'` : `${this.opType} node producing '${this._outputs.find((v) => v.name !== '')?.name ?? '?'}'`;
  }
}

export const attr = {
  int: (name: string, value: Int): Attribute => ({ name, type: AttrType.INT, value }),
  float: (name: string, value: number): Attribute => ({ name, type: AttrType.FLOAT, value }),
  ints: (name: string, value: Int[]): Attribute => ({ name, type: AttrType.INTS, value }),
  floats: (name: string, value: number[]): Attribute => ({ name, type: AttrType.FLOATS, value }),
  string: (name: string, value: string): Attribute => ({ name, type: AttrType.STRING, value: utf8enc.encode(value) }),
  tensor: (name: string, value: Tensor): Attribute => ({ name, type: AttrType.TENSOR, value }),
  graph: (name: string, value: Graph): Attribute => ({ name, type: AttrType.GRAPH, value }),
};

function isDefinedWithin(v: Value, g: Graph): boolean {
  return v.graph === g;
}
function ownsTransitively(g: Graph, v: Value): boolean {
  let owner: Graph | null = v.graph;
  while (owner) {
    if (owner === g) return true;
    owner = owner.parentNode?.graph ?? null;
  }
  return false;
}

/**
 * Ordered node container that tolerates mutation during iteration: a removed node keeps
 * its `next` pointer, so an iterator standing on it moves on; nodes inserted after the
 * cursor are visited.
 */
export class NodeList implements Iterable<Node> {
  private head: Node | null = null;
  private tail: Node | null = null;
  private count = 0;
  constructor(private readonly owner: Graph) {}

  get length(): number {
    return this.count;
  }
  first(): Node | null {
    return this.head;
  }
  last(): Node | null {
    return this.tail;
  }

  *[Symbol.iterator](): Iterator<Node> {
    let n = this.head;
    while (n) {
      if (!n._erased) yield n;
      n = n._next;
      while (n && n._erased) n = n._next;
    }
  }
  toArray(): Node[] {
    const out: Node[] = [];
    for (let n = this.head; n; n = n._next) out.push(n);
    return out;
  }
  *reversed(): Iterable<Node> {
    let n = this.tail;
    while (n) {
      if (!n._erased) yield n;
      n = n._prev;
      while (n && n._erased) n = n._prev;
    }
  }

  append(node: Node): void {
    this.insertAfter(this.tail, node);
  }
  /** Insert `node` after `anchor` (at the front when anchor is null). */
  insertAfter(anchor: Node | null, node: Node): void {
    this.claim(node);
    node._prev = anchor;
    node._next = anchor ? anchor._next : this.head;
    if (node._next) node._next._prev = node;
    else this.tail = node;
    if (anchor) anchor._next = node;
    else this.head = node;
    this.count++;
  }
  insertBefore(anchor: Node, node: Node): void {
    this.insertAfter(anchor._prev, node);
  }
  /** Unlink `node`. Its use-def edges are left alone: see Graph.removeNode. */
  unlink(node: Node): void {
    if (node.graph !== this.owner || node._erased) {
      throw new SplitcError('E_VERIFY', `${node.describe()} is not in this graph`);
    }
    if (node._prev) node._prev._next = node._next;
    else this.head = node._next;
    if (node._next) node._next._prev = node._prev;
    else this.tail = node._prev;
    node._erased = true;
    node.graph = null;
    this.count--;
    // keep node._next so a live iterator can continue
  }
  private claim(node: Node): void {
    if (node.graph && !node._erased) throw new SplitcError('E_VERIFY', `${node.describe()} already belongs to a graph`);
    node.graph = this.owner;
    node._erased = false;
    node._prev = null;
    node._next = null;
    for (const v of node.outputs) v.graph = this.owner;
  }
  clear(): void {
    this.head = this.tail = null;
    this.count = 0;
  }
}

export class Graph {
  name: string;
  docString = '';
  inputs: Value[] = [];
  outputs: Value[] = [];
  /** Initializers by name, in file order. Their values carry `constValue`. */
  readonly initializers = new Map<string, Value>();
  readonly nodes: NodeList;
  /** Node owning this graph when it is a subgraph attribute. */
  parentNode: Node | null = null;
  /** Fields the IR does not model (sparse initializers, quantization annotations, ...), kept by serde. */
  extra: unknown = undefined;

  constructor(name = '') {
    this.name = name;
    this.nodes = new NodeList(this);
  }

  addInput(v: Value): Value {
    v.graph = this;
    this.inputs.push(v);
    return v;
  }
  addInitializer(v: Value, data: Tensor): Value {
    if (this.initializers.has(v.name)) {
      throw new SplitcError('E_VALUE_REDEFINED', `initializer '${v.name}' is defined twice`);
    }
    v.graph = this;
    v.constValue = data;
    this.initializers.set(v.name, v);
    return v;
  }
  removeInitializer(name: string): void {
    const v = this.initializers.get(name);
    if (!v) return;
    if (v.uses().length > 0 || v.isGraphOutput()) {
      throw new SplitcError('E_VERIFY', `initializer '${name}' is still used`);
    }
    this.initializers.delete(name);
    v.constValue = null;
  }
  appendNode(n: Node): Node {
    this.nodes.append(n);
    return n;
  }
  /**
   * Remove a node. All preconditions are checked before anything changes: with
   * `safe`, its outputs must be unused (and not graph outputs).
   */
  removeNode(n: Node, safe = true): void {
    if (n.graph !== this) throw new SplitcError('E_VERIFY', `${n.describe()} is not in graph '${this.name}'`);
    if (safe) {
      for (const o of n.outputs) {
        if (o.uses().length > 0) throw new SplitcError('E_VERIFY', `cannot remove ${n.describe()}: output '${o.name}' is still used`);
        if (o.isGraphOutput()) throw new SplitcError('E_VERIFY', `cannot remove ${n.describe()}: output '${o.name}' is a graph output`);
      }
    }
    n.dropInputs();
    this.nodes.unlink(n);
  }

  /** Values defined in this graph: inputs, initializers and node outputs. */
  *definedValues(): Iterable<Value> {
    yield* this.inputs;
    const inputs = new Set(this.inputs);
    for (const v of this.initializers.values()) if (!inputs.has(v)) yield v;
    for (const n of this.nodes) yield* n.outputs;
  }

  /** Map of names to values defined in this graph (not enclosing scopes). */
  valuesByName(): Map<string, Value> {
    const m = new Map<string, Value>();
    for (const v of this.definedValues()) if (v.name) m.set(v.name, v);
    return m;
  }

  /** Depth of nesting: 0 for the main graph. */
  depth(): number {
    let d = 0;
    for (let g: Graph | null = this; g?.parentNode; g = g.parentNode.graph) d++;
    return d;
  }
}

export interface IrFunction {
  domain: string;
  name: string;
  overload: string;
  /** Attribute names the function declares (without defaults). */
  attributeNames: string[];
  /** Declared attributes with defaults. */
  attributeDefaults: Attribute[];
  opsetImports: Map<string, number>;
  /** Body; its inputs/outputs are the function's formal parameters. */
  body: Graph;
  docString: string;
  extra: unknown;
}

export class Model {
  irVersion: number;
  producerName = '';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  /** Opset version per domain ('' = ai.onnx). Order is kept for serialization. */
  readonly opsetImports = new Map<string, number>();
  metadataProps: [string, string][] = [];
  graph: Graph;
  functions: IrFunction[] = [];
  /** Fields the IR does not model (training_info, configuration, ...), kept by serde. */
  extra: unknown = undefined;

  constructor(graph: Graph, irVersion = 8, opset = 17) {
    this.graph = graph;
    this.irVersion = irVersion;
    this.opsetImports.set('', opset);
  }

  /** Opset of the default ONNX domain. */
  get opset(): number {
    return this.opsetImports.get('') ?? this.opsetImports.get('ai.onnx') ?? 1;
  }
}

/** Every graph in the model, main graph first, then subgraphs depth-first. */
export function* allGraphs(g: Graph): Iterable<Graph> {
  yield g;
  for (const n of g.nodes) for (const sg of n.subgraphs()) yield* allGraphs(sg);
}

/** Every node of the graph and, recursively, of its subgraphs. */
export function* allNodes(g: Graph): Iterable<Node> {
  for (const n of g.nodes) {
    yield n;
    for (const sg of n.subgraphs()) yield* allNodes(sg);
  }
}

export function decodeUtf8(b: Uint8Array): string {
  return utf8.decode(b);
}
export function encodeUtf8(s: string): Uint8Array {
  return utf8enc.encode(s);
}
