// Raw graph records → IR Graph: resolves names through nested scopes, checks SSA and
// undefined inputs/outputs, and orders nodes topologically (stable) when the file does not.

import { SplitcError } from '../errors.js';
import { type Attribute, AttrType, Graph, Node, Value } from '../graph.js';
import type { Ctx, RawGraph } from './raw.js';

/**
 * Build an IR graph from its raw form. `scopes` are the enclosing graphs' name tables
 * (innermost last). Checks SSA, undefined inputs and cycles; sorts nodes topologically
 * (stable) when the file lists them out of order.
 */
export function buildGraph(raw: RawGraph, scopes: Map<string, Value>[], ctx: Ctx, where: string, lenient = false): Graph {
  const g = new Graph(raw.name);
  g.docString = raw.doc;
  if (raw.extra.length) g.extra = raw.extra;
  const local = new Map<string, Value>();
  const define = (v: Value, what: string): void => {
    if (local.has(v.name)) {
      throw new SplitcError('E_VALUE_REDEFINED', `value '${v.name}' is defined twice in ${where} (second time as ${what})`, {
        hint: 'ONNX graphs are in SSA form: every tensor name must be produced exactly once',
      });
    }
    local.set(v.name, v);
  };
  for (const vi of raw.inputs) {
    const v = new Value(vi.name, vi.type);
    v.typeFromFile = vi.type !== null;
    v.docString = vi.doc;
    g.addInput(v);
    if (vi.name) define(v, 'a graph input');
  }
  const inputSet = new Set(g.inputs);
  for (const t of raw.initializers) {
    const existing = local.get(t.name);
    if (existing && inputSet.has(existing) && !existing.constValue) {
      // IR < 4 style: the initializer is also listed as an input (a default value).
      g.addInitializer(existing, t);
      continue;
    }
    const v = new Value(t.name, { kind: 'tensor', dtype: t.dtype, shape: [...t.dims] });
    define(v, 'an initializer');
    g.addInitializer(v, t);
  }
  // Outputs of all nodes first, so nodes listed out of order still resolve.
  const nodeOutputs: Value[][] = raw.nodes.map((rn) =>
    rn.outputs.map((name) => {
      const v = new Value(name);
      if (name) define(v, `an output of ${rn.opType} node '${rn.name}'`);
      return v;
    }),
  );
  for (const vi of raw.valueInfo) {
    const v = local.get(vi.name);
    if (v && vi.type && !v.type) {
      v.type = vi.type;
      v.typeFromFile = true;
    }
    if (v && vi.doc && !v.docString) v.docString = vi.doc;
  }
  const lookup = (name: string): Value | undefined => {
    const v = local.get(name);
    if (v) return v;
    for (let i = scopes.length - 1; i >= 0; i--) {
      const o = scopes[i]!.get(name);
      if (o) return o;
    }
    return undefined;
  };
  const innerScopes = [...scopes, local];
  const nodes: Node[] = raw.nodes.map((rn, i) => {
    const inputs = rn.inputs.map((name) => {
      if (name === '') return null;
      const v = lookup(name);
      if (v) return v;
      if (lenient) {
        const placeholder = new Value(name);
        local.set(name, placeholder);
        return placeholder;
      }
      throw new SplitcError('E_UNDEFINED_INPUT', `input '${name}' of ${rn.opType} node '${rn.name}' in ${where} is never defined`, {
        hint: 'no graph input, initializer or earlier node produces it; the model is incomplete',
      });
    });
    const attributes = rn.attributes.map((a) => {
      const rawGraphs = (a as { _rawGraphs?: RawGraph[] })._rawGraphs;
      if (!rawGraphs) return a;
      const { _rawGraphs: _, ...rest } = a as Attribute & { _rawGraphs?: RawGraph[] };
      void _;
      const built = rawGraphs.map((rg) => buildGraph(rg, innerScopes, ctx, `subgraph '${a.name}' of node '${rn.name}'`, lenient));
      return (a.type === AttrType.GRAPH ? { ...rest, value: built[0] } : { ...rest, value: built }) as Attribute;
    });
    const n = new Node(rn.domain, rn.opType, inputs, nodeOutputs[i]!, { name: rn.name, attributes });
    n.overload = rn.overload;
    n.docString = rn.doc;
    if (rn.extra.length) n.extra = rn.extra;
    if (n.hasSubgraphs()) for (const sg of n.subgraphs()) sg.parentNode = n;
    return n;
  });
  for (const n of topoSortNodes(nodes, where)) g.appendNode(n);
  for (const vi of raw.outputs) {
    let v = lookup(vi.name);
    if (!v) {
      if (lenient) v = new Value(vi.name);
      else {
        throw new SplitcError('E_UNDEFINED_OUTPUT', `output '${vi.name}' of ${where} is never produced`, {
          hint: 'no node, input or initializer defines it',
        });
      }
    }
    // An output may be an outer-scope value (an If branch passing it through): its
    // declared type here never overrides the type the value has where it is defined.
    if (vi.type && !v.type) {
      v.type = vi.type;
      v.typeFromFile = true;
    }
    if (vi.doc && !v.docString) v.docString = vi.doc;
    g.outputs.push(v);
  }
  return g;
}

/**
 * Stable topological order (Kahn, taking nodes in file order when free). Subgraph
 * reads of outer values count as dependencies. Throws E_CYCLE naming a node on a cycle.
 */
export function topoSortNodes(nodes: readonly Node[], where: string): Node[] {
  const index = new Map<Node, number>();
  nodes.forEach((n, i) => index.set(n, i));
  const indeg = new Array<number>(nodes.length).fill(0);
  const succ: number[][] = nodes.map(() => []);
  let sorted = true;
  const deps: number[] = [];
  const addDep = (v: Value | null): void => {
    const p = v?.producer();
    const j = p ? index.get(p) : undefined;
    if (j !== undefined && !deps.includes(j)) deps.push(j);
  };
  nodes.forEach((n, i) => {
    deps.length = 0;
    for (const v of n.dependencies()) addDep(v);
    for (const j of deps) {
      if (j >= i) sorted = false;
      succ[j]!.push(i);
      indeg[i]!++;
    }
  });
  if (sorted) return [...nodes];
  // Min-heap on file index keeps the order stable.
  const heap: number[] = [];
  const push = (x: number): void => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= x) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = x;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
        if (heap[c]! >= last) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  };
  indeg.forEach((d, i) => d === 0 && push(i));
  const out: Node[] = [];
  while (heap.length) {
    const i = pop();
    out.push(nodes[i]!);
    for (const j of succ[i]!) if (--indeg[j]! === 0) push(j);
  }
  if (out.length !== nodes.length) {
    const stuck = nodes.find((_, i) => indeg[i]! > 0)!;
    throw new SplitcError('E_CYCLE', `${where} has a cycle through ${stuck.describe()}`, {
      hint: 'ONNX graphs must be acyclic; a node (indirectly) consumes its own output',
    });
  }
  return out;
}
