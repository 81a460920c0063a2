// Charging the kernels of onnxruntime's optimized graph (fused, NCHWc layout, renamed) to the
// ONNX nodes they replaced, so node times are those of the session a deployment runs.

import { constantPredicate, isConstantNode } from '../../ir/constants.js';
import { Model, Node } from '../../ir/graph.js';

/** How the kernels of a traced optimized session were charged to the ONNX nodes. */
export interface OptimizedNodeTimes {
  /** Per ONNX node name: its share of the kernel times (ms); nodes fused or folded away with no kernel nearby get 0. */
  nodesMs: Map<string, number>;
  /** Share of the kernels' time charged to some node (the rest had no node: not in the saved graph, or nothing mapped nearby). */
  coverage: number;
  /** Kernels with no node. */
  unmappedKernels: string[];
  /** Share of the unoptimized node time in nodes no kernel was charged to (folded away, or a mapping miss). */
  orphanShare: number;
}

/**
 * Charge the kernel times of an optimized session (by optimized-graph node name) to the ONNX
 * nodes of `original`, the graph the session was created from (the same node names).
 *
 * A kernel maps to ONNX nodes by its name, as onnxruntime's fusions name them: the node of the
 * same name (fused kernels keep their first node's name: FusedConv `p2o.Conv.45`), the name
 * before a '/' (`p2o.MatMul.0/MatMulAddFusion`), or `<tensor>_nchwc` (NCHWc convolutions are
 * named after the tensor their fused chain ends in: the producer of `<tensor>`); failing those,
 * by an output tensor of the same name. A kernel none of these fit (layout `ReorderInput` /
 * `ReorderOutput`, inserted Transpose and Reshape) joins the nearest mapped kernel in the
 * optimized graph (at most 3 edges away; a ReorderOutput looks upstream first, the rest
 * downstream). Each mapped kernel ends a group: the node its chain ends in and the nodes
 * upstream of it that no kernel maps to (what it fused, or what was folded away into its
 * inputs), not past its named node. The group's kernel time is shared in proportion to the
 * nodes' unoptimized times, so a cut inside a fused chain still gives each side about its part.
 */
export function chargeOptimizedKernels(
  original: Model,
  optimized: Model,
  kernelMs: ReadonlyMap<string, number>,
  unoptimizedMs: ReadonlyMap<string, number>,
): OptimizedNodeTimes {
  const isConstOriginal = constantPredicate();
  const compute = [...original.graph.nodes].filter((n) => !isConstantNode(n, isConstOriginal));
  const byName = new Map(compute.map((n) => [n.name, n] as const));
  const producerOf = new Map<string, Node>();
  for (const n of compute) for (const v of n.outputs) if (v.name) producerOf.set(v.name, n);

  /** A kernel's chain in the original graph: its named first node and the node it ends in. */
  const direct = (k: Node): { first?: Node; end: Node } | undefined => {
    const slash = k.name.indexOf('/');
    const first = byName.get(k.name) ?? (slash > 0 ? byName.get(k.name.slice(0, slash)) : undefined);
    const end =
      (k.name.endsWith('_nchwc') ? producerOf.get(k.name.slice(0, -'_nchwc'.length)) : undefined) ??
      k.outputs.map((v) => producerOf.get(v.name)).find((n) => n !== undefined) ??
      first;
    return end ? { ...(first ? { first } : {}), end } : undefined;
  };
  const optNodes = new Map<string, Node>();
  for (const k of optimized.graph.nodes) if (!optNodes.has(k.name)) optNodes.set(k.name, k);
  const chains = new Map<Node, { first?: Node; end: Node }>();
  for (const k of optNodes.values()) {
    const c = direct(k);
    if (c) chains.set(k, c);
  }
  /** The mapped kernel nearest to `k` in the optimized graph (breadth first, at most 3 edges). */
  const nearest = (k: Node): Node | undefined => {
    const upstreamFirst = k.opType === 'ReorderOutput';
    let frontier = [k];
    const seen = new Set([k]);
    for (let d = 0; d < 3 && frontier.length; d++) {
      const next: Node[] = [];
      for (const x of frontier) {
        const up = x.inputs.flatMap((v) => (v?.producer() ? [v.producer()!] : []));
        const down = x.outputs.flatMap((v) => v.consumers());
        for (const y of upstreamFirst ? [...up, ...down] : [...down, ...up]) {
          if (seen.has(y)) continue;
          seen.add(y);
          if (chains.has(y)) return y;
          next.push(y);
        }
      }
      frontier = next;
    }
    return undefined;
  };

  // Kernel time per group, keyed by the node its chain ends in.
  const groupMs = new Map<Node, number>();
  const firstOf = new Map<Node, Set<Node>>();
  let totalMs = 0;
  let mappedMs = 0;
  const unmappedKernels: string[] = [];
  for (const [name, ms] of kernelMs) {
    totalMs += ms;
    const k = optNodes.get(name);
    const anchor = k && (chains.has(k) ? k : nearest(k));
    if (!anchor) {
      unmappedKernels.push(name);
      continue;
    }
    const { first, end } = chains.get(anchor)!;
    groupMs.set(end, (groupMs.get(end) ?? 0) + ms);
    if (first) (firstOf.get(end) ?? firstOf.set(end, new Set()).get(end)!).add(first);
    mappedMs += ms;
  }
  // Nodes some kernel maps to by name or chain end: a group's upstream walk stops at them.
  const anchored = new Set<Node>([...groupMs.keys(), ...[...firstOf.values()].flatMap((s) => [...s])]);
  const groupOf = new Map<Node, Node>();
  const order = new Map(compute.map((n, i) => [n, i] as const));
  for (const end of [...groupMs.keys()].sort((a, b) => order.get(a)! - order.get(b)!)) {
    groupOf.set(end, end);
    const firsts = firstOf.get(end) ?? new Set<Node>();
    const stack = [end];
    while (stack.length) {
      const x = stack.pop()!;
      for (const v of x.inputs) {
        const p = v?.producer();
        if (!p || !order.has(p) || groupOf.has(p)) continue;
        if (anchored.has(p) && !firsts.has(p)) continue;
        groupOf.set(p, end);
        if (!firsts.has(p)) stack.push(p);
      }
    }
  }
  const members = new Map<Node, Node[]>();
  for (const [n, end] of groupOf) (members.get(end) ?? members.set(end, []).get(end)!).push(n);
  const nodesMs = new Map<string, number>(compute.map((n) => [n.name, 0] as const));
  for (const [end, ms] of groupMs) {
    const group = members.get(end)!;
    const weight = group.reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
    for (const n of group) nodesMs.set(n.name, weight > 0 ? (ms * (unoptimizedMs.get(n.name) ?? 0)) / weight : n === end ? ms : 0);
  }
  const unoptimizedTotal = compute.reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
  const orphanMs = compute.filter((n) => !groupOf.has(n)).reduce((a, n) => a + (unoptimizedMs.get(n.name) ?? 0), 0);
  return {
    nodesMs,
    coverage: totalMs > 0 ? mappedMs / totalMs : 0,
    unmappedKernels,
    orphanShare: unoptimizedTotal > 0 ? orphanMs / unoptimizedTotal : 0,
  };
}
