// Cost annotation: per node multiply-accumulates, parameter bytes and output activation
// bytes, model totals, and the peak live-activation memory of running the graph in
// topological order (what an edge device must hold at once besides the weights).
// Needs shapes: run shape inference first. Unknown symbolic dims count as 1 and are
// reported in `assumedSymbols`.

import { constantOf, constantPredicate, isConstantNode } from '../ir/constants.js';
import { byteSizeOf, isFloatDtype } from '../ir/dtype.js';
import { AttrType, type Graph, type Model, type Node, type Shape, type Value } from '../ir/graph.js';
import { registerPass, type Pass } from './pass.js';

export interface NodeCost {
  /**
   * Multiply-accumulates (Conv, ConvTranspose, MatMul, Gemm, Einsum, normalizations);
   * for If/Loop/Scan, the work inside their subgraphs (see `SUBGRAPH_RULES`).
   */
  macs: number;
  /** Bytes of constant inputs (weights, biases, shape constants) read by the node. */
  paramBytes: number;
  /** Bytes of the node's outputs (0 for constant nodes — Constant, or folds of weights only: those are parameters). */
  outputBytes: number;
  /** False when some shape (or a Loop's trip count) needed for these numbers is unknown. */
  exact: boolean;
}

export interface CostTotals {
  nodes: number;
  macs: number;
  /** Elements of floating-point constants (initializers and Constant nodes). */
  params: number;
  /** Bytes of all constants. */
  paramBytes: number;
  /** Sum of all activation outputs. */
  activationBytes: number;
  /** Peak bytes of activations alive at once when executing in graph order. */
  peakActivationBytes: number;
  /** Symbols (e.g. 'N') taken as 1 because their value is unknown. */
  assumedSymbols: string[];
  /** Nodes whose cost could not be computed exactly (unknown shapes). */
  inexactNodes: number;
}

export interface CostReport {
  nodes: Map<Node, NodeCost>;
  totals: CostTotals;
}

export interface CostOptions {
  /** Values for symbolic dims (default: 1 for each, recorded as an assumption). */
  symbols?: Record<string, number>;
}

type MacRule = (n: Node, dims: (v: Value | null | undefined) => number[] | null) => number | null;

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** MAC rules per op type; ops not listed have 0 MACs (elementwise, data movement). */
const MAC_RULES: Record<string, MacRule> = {
  Conv(n, dims) {
    const w = dims(n.inputs[1]);
    const y = dims(n.outputs[0]);
    if (!w || !y || w.length < 2) return null;
    // N·Cout·spatial_out · (Cin/group)·kernel
    return prod(y) * prod(w.slice(1));
  },
  ConvTranspose(n, dims) {
    const x = dims(n.inputs[0]);
    const w = dims(n.inputs[1]);
    if (!x || !w || w.length < 2) return null;
    // every input element scatters into (Cout/group)·kernel outputs
    return prod(x) * prod(w.slice(1));
  },
  MatMul(n, dims) {
    const a = dims(n.inputs[0]);
    const y = dims(n.outputs[0]);
    if (!a || !y || a.length === 0) return null;
    return prod(y) * a[a.length - 1]!;
  },
  Gemm(n, dims) {
    const a = dims(n.inputs[0]);
    const y = dims(n.outputs[0]);
    if (!a || !y || a.length !== 2) return null;
    const k = n.attrInt('transA', 0) ? a[0]! : a[1]!;
    return prod(y) * k;
  },
  Einsum(n, dims) {
    const eq = n.attrString('equation');
    if (!eq) return null;
    const [lhs] = eq.replace(/\s/g, '').split('->');
    const terms = (lhs ?? '').split(',');
    const sizes = new Map<string, number>();
    for (let i = 0; i < terms.length; i++) {
      const d = dims(n.inputs[i]);
      if (!d) return null;
      const letters = terms[i]!.replace('...', '');
      const offset = d.length - letters.length;
      [...letters].forEach((c, j) => sizes.set(c, Math.max(sizes.get(c) ?? 1, d[offset + j] ?? 1)));
    }
    // one MAC per point of the full index space (broadcast batch dims via the output)
    const y = dims(n.outputs[0]);
    const outLetters = (eq.split('->')[1] ?? '').replace('...', '');
    const ell = y ? prod(y.slice(0, y.length - outLetters.length)) : 1;
    return prod([...sizes.values()]) * ell;
  },
  BatchNormalization: (n, dims) => perElement(n, dims),
  InstanceNormalization: (n, dims) => perElement(n, dims),
  LayerNormalization: (n, dims) => perElement(n, dims),
  GroupNormalization: (n, dims) => perElement(n, dims),
};

function perElement(n: Node, dims: (v: Value | null | undefined) => number[] | null): number | null {
  const y = dims(n.outputs[0]);
  return y ? prod(y) : null;
}

const graphAttr = (n: Node, name: string): Graph | undefined => {
  const a = n.attr(name);
  return a?.type === AttrType.GRAPH ? a.value : undefined;
};

/** MACs of some work, and whether every number it needed was known. */
interface Work {
  macs: number;
  exact: boolean;
}

interface SubgraphContext {
  /** The work of running a subgraph once (its nodes, their subgraphs, recursively). */
  once(g: Graph): Work;
  dims(v: Value | null | undefined): number[] | null;
  opset: number;
}

/** How often a control-flow op runs each of its subgraphs: the work it adds to the node. */
type SubgraphRule = (n: Node, c: SubgraphContext) => Work;

const repeat = (w: Work, times: number | null): Work => (times === null ? { macs: w.macs, exact: false } : { macs: w.macs * times, exact: w.exact });

const SUBGRAPH_RULES: Record<string, SubgraphRule> = {
  If(n, c) {
    const then = graphAttr(n, 'then_branch');
    const otherwise = graphAttr(n, 'else_branch');
    if (!then || !otherwise) return { macs: 0, exact: false };
    const cond = constantOf(n.inputs[0]);
    if (cond && cond.elementCount === 1) return c.once(cond.toNumbers()[0] ? then : otherwise);
    // Which branch runs is known only at run time: charge the costlier one (an upper bound).
    const a = c.once(then);
    const b = c.once(otherwise);
    return { macs: Math.max(a.macs, b.macs), exact: a.exact && b.exact };
  },
  Loop(n, c) {
    const body = graphAttr(n, 'body');
    if (!body) return { macs: 0, exact: false };
    // The trip count M bounds the iterations (the body's condition may stop earlier). Without
    // a constant M (or with PyTorch's INT64_MAX for a while loop) the body counts once.
    const m = constantOf(n.inputs[0]);
    const trips = m && m.elementCount === 1 ? m.toNumbers()[0]! : null;
    return repeat(c.once(body), trips !== null && Number.isSafeInteger(trips) && trips >= 0 ? trips : null);
  },
  Scan(n, c) {
    const body = graphAttr(n, 'body');
    if (!body) return { macs: 0, exact: false };
    const scans = n.attrInt('num_scan_inputs', 0);
    if (c.opset < 9) {
      // Scan-8: the first scan input is [batch, sequence, …]; the body runs for each step of each batch item.
      const d = c.dims(n.inputs[n.inputs.length - scans]);
      return repeat(c.once(body), d && d.length >= 2 ? d[0]! * d[1]! : null);
    }
    const x = n.inputs[n.inputs.length - scans];
    const d = c.dims(x);
    const axis = n.attrInts('scan_input_axes')?.[0] ?? 0;
    const steps = d ? d[axis < 0 ? axis + d.length : axis] : undefined;
    return repeat(c.once(body), steps ?? null);
  },
};

export function annotateCost(model: Model, opts: CostOptions = {}): CostReport {
  const assumed = new Set<string>();
  const symbols = opts.symbols ?? {};
  const resolve = (shape: Shape | null): number[] | null => {
    if (!shape) return null;
    const out: number[] = [];
    for (const d of shape) {
      if (typeof d === 'number') out.push(d);
      else if (typeof d === 'string') {
        if (symbols[d] !== undefined) out.push(symbols[d]!);
        else {
          assumed.add(d);
          out.push(1);
        }
      } else return null;
    }
    return out;
  };
  const dims = (v: Value | null | undefined): number[] | null => {
    if (!v) return null;
    const c = constantOf(v);
    if (c) return c.dims;
    return resolve(v.shape);
  };
  const bytesOf = (v: Value): number | null => {
    const d = dims(v);
    const dt = v.dtype;
    if (!d || dt === undefined) return null;
    return byteSizeOf(dt, prod(d));
  };

  const g = model.graph;
  const nodes = new Map<Node, NodeCost>();
  // Nodes computing from weights only (PyTorch's Identity-shared weights, a Transpose of an
  // initializer) are folded by runtimes at load: no MACs, no activations; their outputs are
  // parameter bytes of the nodes that read them.
  const isConst = constantPredicate();
  // A node's MACs by its op's rule, plus for control flow the work inside its subgraphs
  // (recursively; their values have shapes from shape inference).
  const subgraphs: SubgraphContext = {
    once(sg) {
      let macs = 0;
      let exact = true;
      for (const inner of sg.nodes) {
        if (isConstantNode(inner, isConst)) continue;
        const w = nodeWork(inner);
        macs += w.macs;
        exact &&= w.exact;
      }
      return { macs, exact };
    },
    dims,
    opset: model.opset,
  };
  const nodeWork = (n: Node): Work => {
    const op = n.domain === '' || n.domain === 'ai.onnx' ? n.opType : '';
    const rule = MAC_RULES[op];
    let macs = 0;
    let exact = true;
    if (rule) {
      const r = rule(n, dims);
      if (r === null || !Number.isFinite(r)) exact = false;
      else macs = r;
    }
    if (n.hasSubgraphs()) {
      const sub = SUBGRAPH_RULES[op];
      if (sub) {
        const w = sub(n, subgraphs);
        macs += w.macs;
        exact &&= w.exact;
      } else {
        // a custom op's subgraphs: how often they run is unknown, so once each
        for (const sg of n.subgraphs()) macs += subgraphs.once(sg).macs;
        exact = false;
      }
    }
    return { macs, exact };
  };
  let macs = 0;
  let activationBytes = 0;
  let inexact = 0;
  for (const n of g.nodes) {
    let exact = true;
    let paramBytes = 0;
    for (const v of n.inputs) {
      if (!v || !isConst(v)) continue;
      const c = constantOf(v);
      paramBytes += c ? c.expectedByteLength : (bytesOf(v) ?? 0);
    }
    let outputBytes = 0;
    const folded = isConstantNode(n, isConst);
    if (!folded) {
      for (const o of n.outputs) {
        if (!o.name) continue;
        const b = bytesOf(o);
        if (b === null) exact = false;
        else outputBytes += b;
      }
    }
    const work = folded ? { macs: 0, exact: true } : nodeWork(n);
    const m = work.macs;
    if (!work.exact) exact = false;
    if (!exact) inexact++;
    macs += m;
    activationBytes += outputBytes;
    const cost: NodeCost = { macs: m, paramBytes, outputBytes, exact };
    nodes.set(n, cost);
    n.meta.set('cost', cost);
  }

  // Unique constants: initializers and Constant node outputs.
  let params = 0;
  let paramBytes = 0;
  const seen = new Set<Value>();
  const countConst = (v: Value): void => {
    if (seen.has(v)) return;
    seen.add(v);
    const t = constantOf(v);
    if (!t) return;
    paramBytes += t.expectedByteLength;
    if (isFloatDtype(t.dtype)) params += t.elementCount;
  };
  for (const v of g.initializers.values()) countConst(v);
  for (const n of g.nodes) if (n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')) for (const o of n.outputs) countConst(o);

  const peak = peakActivationBytes(g, (v) => (isConst(v) ? 0 : (bytesOf(v) ?? 0)));
  return {
    nodes,
    totals: {
      nodes: g.nodes.length,
      macs,
      params,
      paramBytes,
      activationBytes,
      peakActivationBytes: peak,
      assumedSymbols: [...assumed].sort(),
      inexactNodes: inexact,
    },
  };
}

/**
 * Simulate execution in node order: graph inputs are live from the start, a node's
 * outputs become live when it runs, a value dies after its last consumer (graph
 * outputs never die). The peak counts a node's inputs and outputs together.
 */
export function peakActivationBytes(g: Graph, sizeOf: (v: Value) => number): number {
  const order = g.nodes.toArray().filter((n) => !n._erased);
  const lastUse = new Map<Value, number>();
  const noteUse = (v: Value, i: number): void => {
    if ((lastUse.get(v) ?? -1) < i) lastUse.set(v, i);
  };
  order.forEach((n, i) => {
    for (const v of n.dependencies()) noteUse(v, i);
  });
  const outputs = new Set(g.outputs);
  const dies = new Map<number, Value[]>();
  for (const [v, i] of lastUse) {
    if (outputs.has(v)) continue;
    const list = dies.get(i) ?? [];
    list.push(v);
    dies.set(i, list);
  }
  let live = 0;
  for (const v of g.inputs) if (!v.constValue && (lastUse.has(v) || outputs.has(v))) live += sizeOf(v);
  let peak = live;
  order.forEach((n, i) => {
    let unused = 0;
    for (const o of n.outputs) {
      if (!o.name) continue;
      const size = sizeOf(o);
      live += size;
      if (!lastUse.has(o) && !outputs.has(o)) unused += size; // freed right after the node
    }
    peak = Math.max(peak, live);
    live -= unused;
    for (const v of dies.get(i) ?? []) live -= sizeOf(v);
  });
  return peak;
}

export const costPass = (): Pass => ({
  name: 'cost',
  options: {},
  inPlace: true,
  run(model) {
    annotateCost(model);
    return { model, modified: false };
  },
});
registerPass('cost', costPass);
