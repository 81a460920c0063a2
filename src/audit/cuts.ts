// Which cuts an audit attacks: the ones the user names (`after:<node>` or tensor lists), or a
// spread along the model (`auto`): cuts right after compute nodes, chosen so that the share of
// the model's MACs on the edge (the cut's depth) steps evenly from shallow to deep. A cut
// after a node inside a residual block also sends the skip tensor: such multi-tensor cuts are
// kept as they come.

import { constantPredicate, isConstantNode } from '../ir/constants.js';
import { SplitcError } from '../ir/errors.js';
import type { Dim, Model, Node, Value } from '../ir/graph.js';
import { annotateCost } from '../passes/cost.js';
import { cutAfterNode, splitModel } from '../passes/cut.js';
import { inferShapes } from '../passes/shape/index.js';
import { cloneModel } from '../passes/training-graph.js';

export interface AuditCut {
  tensors: string[];
  label: string;
  /** Share of the model's MACs computed on the edge. */
  depth: number;
}

/** How many cuts `auto` picks by default. */
export const AUTO_CUTS = 5;

/** Share of the MACs computed by the nodes the cut tensors depend on (the edge part). */
function edgeMacShare(byName: ReadonlyMap<string, Value>, macsOf: ReadonlyMap<Node, number>, total: number, tensors: readonly string[]): number {
  if (total <= 0) return 0;
  const seen = new Set<Node>();
  const stack = tensors.map((t) => byName.get(t)?.producer()).filter((n): n is Node => !!n);
  let macs = 0;
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    macs += macsOf.get(n) ?? 0;
    for (const v of n.inputs) {
      const p = v?.producer();
      if (p && !seen.has(p)) stack.push(p);
    }
  }
  return macs / total;
}

/** Parse `auto`, `after:<node>`, or `t1+t2` (one cut of several tensors) items. */
export function resolveCuts(model: Model, spec: 'auto' | readonly string[], inputShapes: Record<string, Dim[]> = {}, count = AUTO_CUTS): AuditCut[] {
  const m = cloneModel(model);
  inferShapes(m, { inputShapes });
  const cost = annotateCost(m);
  const macsOf = new Map([...cost.nodes].map(([n, c]) => [n, c.macs] as const));
  const byName = m.graph.valuesByName();
  const depthOf = (tensors: readonly string[]) => edgeMacShare(byName, macsOf, cost.totals.macs, tensors);
  if (spec !== 'auto') {
    return spec.map((item) => {
      const tensors = item.startsWith('after:') ? cutAfterNode(m, item.slice('after:'.length)) : item.split('+').map((s) => s.trim()).filter(Boolean);
      splitModel(m, tensors); // throws E_CUT with the reason when it is not a cut
      return { tensors, label: item, depth: depthOf(tensors) };
    });
  }
  const isConst = constantPredicate();
  const options: AuditCut[] = [];
  const seen = new Set<string>();
  for (const n of m.graph.nodes) {
    if (isConstantNode(n, isConst) || !n.name) continue;
    let tensors: string[];
    try {
      tensors = cutAfterNode(m, n.name);
      const s = splitModel(m, tensors);
      if (s.cloudOutputs.length === 0) continue; // the cloud would have nothing to do
    } catch (e) {
      if (e instanceof SplitcError) continue;
      throw e;
    }
    const key = [...tensors].sort().join('\u0000');
    if (seen.has(key)) continue;
    seen.add(key);
    options.push({ tensors, label: `after:${n.name}`, depth: depthOf(tensors) });
  }
  if (options.length === 0) throw new SplitcError('E_AUDIT', 'the model has no cut to audit', { hint: 'name cut tensors with --cuts' });
  if (options.length <= count) return options;
  // evenly spaced depths from the first to the last cut, each the nearest not taken yet
  const picked: AuditCut[] = [];
  for (let i = 0; i < count; i++) {
    const want = options[0]!.depth + ((options[options.length - 1]!.depth - options[0]!.depth) * i) / (count - 1);
    let best: AuditCut | null = null;
    for (const o of options) if (!picked.includes(o) && (best === null || Math.abs(o.depth - want) < Math.abs(best.depth - want))) best = o;
    picked.push(best!);
  }
  return picked.sort((a, b) => a.depth - b.depth);
}
