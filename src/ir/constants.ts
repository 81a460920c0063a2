// What is constant in a graph, decided in one place for every exporter's idiom:
// initializers and Constant nodes (PaddleOCR), `Identity(initializer)` (PyTorch's shared
// weights), and any deterministic computation on constants only (TensorFlow's
// Cast/Reshape/Transpose of a weight) — runtimes fold those at load, so they are weights,
// never data the edge computes or a tensor worth sending.

import { DataType } from './dtype.js';
import { AttrType, type Graph, type Node, type Value } from './graph.js';
import { MemoryStorage, Tensor } from './tensor.js';

const isStandard = (n: Node): boolean => n.domain === '' || n.domain === 'ai.onnx';

/** Standard ops whose outputs are not a function of their inputs: never folded. */
const NONDETERMINISTIC: ReadonlySet<string> = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

/**
 * The tensor a value is known to hold, or null: initializers, Constant node outputs, and
 * `Identity` chains over those. Initializers that are also graph inputs can be overridden
 * at run time and are not constant.
 */
export function constantOf(v: Value | null | undefined): Tensor | null {
  for (let guard = 0; v && guard < 10_000; guard++) {
    if (v.constValue) return v.isGraphInput() ? null : v.constValue;
    const p = v.producer();
    if (!p || !isStandard(p)) return null;
    if (p.opType === 'Constant') return constantNodeTensor(p);
    if (p.opType !== 'Identity') return null;
    v = p.inputs[0];
  }
  return null;
}

/**
 * A predicate "is this value constant?" — true when everything it depends on is constant
 * (initializers that are not graph inputs, Constant nodes) and every node on the way is a
 * deterministic standard op without subgraphs. Memoized: make one per analysis of an
 * unchanging graph; each value is decided once, O(nodes + edges) over all queries.
 */
export function constantPredicate(): (v: Value | null | undefined) => boolean {
  const memo = new Map<Value, boolean>();
  const base = (v: Value): boolean | undefined => {
    if (v.constValue) return !v.isGraphInput();
    const p = v.producer();
    if (!p) return false; // a graph input (or undefined)
    if (!isStandard(p) || NONDETERMINISTIC.has(p.opType) || p.hasSubgraphs()) return false;
    if (p.opType === 'Constant') return true;
    const inputs = p.inputs.filter((x): x is Value => !!x);
    if (inputs.length === 0) return false; // an op that makes data from nothing but attributes
    // Dropout in training mode draws a mask: constant only without a training_mode input.
    if (p.opType === 'Dropout' && p.inputs[2]) return false;
    return undefined;
  };
  const decide = (root: Value): boolean => {
    const onStack = new Set<Value>();
    const stack: Value[] = [root];
    while (stack.length) {
      const v = stack[stack.length - 1]!;
      if (memo.has(v)) {
        stack.pop();
        continue;
      }
      const b = base(v);
      if (b !== undefined) {
        memo.set(v, b);
        stack.pop();
        continue;
      }
      onStack.add(v);
      // Inputs one at a time, so the first non-constant one decides without visiting the rest.
      let pending: Value | undefined;
      let result = true;
      for (const d of v.producer()!.inputs) {
        if (!d) continue;
        const known = memo.get(d);
        if (known === false) {
          result = false;
          break;
        }
        if (known === undefined) {
          if (onStack.has(d)) {
            result = false; // a cycle: not a constant (the verifier reports the cycle)
            break;
          }
          pending = d;
          break;
        }
      }
      if (result && pending) {
        stack.push(pending);
        continue;
      }
      memo.set(v, result);
      onStack.delete(v);
      stack.pop();
    }
    return memo.get(root)!;
  };
  return (v) => (v ? (memo.get(v) ?? decide(v)) : false);
}

/** Whether a value is constant (see `constantPredicate`; use one predicate for many queries). */
export function isConstant(v: Value | null | undefined): boolean {
  return constantPredicate()(v);
}

/**
 * Whether a node only computes constants (a Constant node, or a fold of constants): runtimes
 * fold it at load, so it is not compute to place, time or cut at.
 */
export function isConstantNode(n: Node, isConst: (v: Value) => boolean = constantPredicate()): boolean {
  if (isStandard(n) && n.opType === 'Constant') return true;
  const outs = n.outputs.filter((o) => o.name !== '');
  return outs.length > 0 && outs.every((o) => isConst(o));
}

/** The values of `g` (inputs, initializers, node outputs) that are constant. */
export function constantValues(g: Graph, isConst: (v: Value) => boolean = constantPredicate()): Set<Value> {
  const out = new Set<Value>();
  for (const v of g.initializers.values()) if (isConst(v)) out.add(v);
  for (const n of g.nodes) for (const o of n.outputs) if (o.name !== '' && isConst(o)) out.add(o);
  return out;
}

/**
 * The value a constant ultimately reads its bytes from: through `Identity` chains to the
 * initializer or Constant output (so a weight shared by Identity is counted once).
 */
export function constantSource(v: Value): Value {
  for (let guard = 0; guard < 10_000; guard++) {
    const p = v.producer();
    if (!p || !isStandard(p) || p.opType !== 'Identity' || !p.inputs[0]) return v;
    v = p.inputs[0];
  }
  return v;
}

/** The tensor held by a Constant node (value, value_float(s), value_int(s), value_string(s)). */
export function constantNodeTensor(n: Node): Tensor | null {
  const name = n.outputs[0]?.name ?? '';
  for (const a of n.attributes.values()) {
    switch (a.name) {
      case 'value':
        if (a.type === AttrType.TENSOR) return a.value;
        break;
      case 'value_float':
        if (a.type === AttrType.FLOAT) return Tensor.fromArray(name, DataType.FLOAT, [], [a.value]);
        break;
      case 'value_floats':
        if (a.type === AttrType.FLOATS) return Tensor.fromArray(name, DataType.FLOAT, [a.value.length], a.value);
        break;
      case 'value_int':
        if (a.type === AttrType.INT) return int64Tensor(name, [], [a.value]);
        break;
      case 'value_ints':
        if (a.type === AttrType.INTS) return int64Tensor(name, [a.value.length], a.value);
        break;
      case 'value_string':
        if (a.type === AttrType.STRING) return new Tensor(name, DataType.STRING, [], new MemoryStorage(new Uint8Array(0)), [a.value]);
        break;
      case 'value_strings':
        if (a.type === AttrType.STRINGS) return new Tensor(name, DataType.STRING, [a.value.length], new MemoryStorage(new Uint8Array(0)), a.value);
        break;
    }
  }
  return null;
}

function int64Tensor(name: string, dims: number[], values: (number | bigint)[]): Tensor {
  const arr = BigInt64Array.from(values, (x) => BigInt(x));
  return new Tensor(name, DataType.INT64, dims, new MemoryStorage(new Uint8Array(arr.buffer)));
}

/**
 * Removes a weight nothing reads any more: an initializer, a Constant node, or an
 * `Identity(initializer)` chain (PyTorch's shared weights), then what that chain read if unused.
 */
export function dropWeightIfUnused(g: Graph, v: Value | null | undefined): void {
  if (!v || v.uses().length > 0 || v.isGraphOutput() || v.isGraphInput()) return;
  if (v.isInitializer()) g.removeInitializer(v.name);
  else if (v.producer()?.opType === 'Constant') g.removeNode(v.producer()!);
  else if (v.producer()?.opType === 'Identity') {
    const p = v.producer()!;
    const src = p.inputs[0];
    g.removeNode(p);
    dropWeightIfUnused(g, src);
  }
}
