// Random partition problems for the search tests: DAGs in the shape of networks, costs with
// Infinity and round numbers (to provoke ties), and a wrapper that turns errors into codes.
import { xorshift32 } from '../../helpers/onnx-oracle.js';

export const rng = xorshift32;

export function close(a: number, b: number): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

/** A cost, sometimes Infinity, sometimes a round number (to provoke ties). */
export function cost(r: () => number, scale: number, pInf: number): number {
  if (r() < pInf) return Infinity;
  const x = r() * scale;
  return r() < 0.4 ? Math.round(x) : x;
}

export interface RandomDag {
  nodeCount: number;
  tensors: { producer: number; consumers: number[] }[];
}


/**
 * Random DAG in the shape of a network: model inputs, then nodes reading mostly recent tensors
 * (chains) and sometimes old ones (skip connections), a few reading nothing (constants),
 * one or two outputs per node; node indices shuffled so the order carries no information.
 */
export function randomDag(r: () => number, nodeCount: number, inputCount: number): RandomDag {
  const tensors: { producer: number; consumers: number[] }[] = [];
  for (let i = 0; i < inputCount; i++) tensors.push({ producer: -1, consumers: [] });
  const perm = Array.from({ length: nodeCount }, (_, i) => i);
  for (let i = nodeCount - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  for (let i = 0; i < nodeCount; i++) {
    const v = perm[i]!;
    const reads = tensors.length === 0 || r() < 0.06 ? 0 : 1 + Math.floor(r() * r() * 3);
    for (let k = 0; k < reads; k++) {
      const recent = r() < 0.7;
      const lo = recent ? Math.max(0, tensors.length - 3) : 0;
      const t = lo + Math.floor(r() * (tensors.length - lo));
      tensors[t]!.consumers.push(v); // duplicates allowed: a node may read a tensor twice
    }
    const outs = r() < 0.15 ? 2 : 1;
    for (let k = 0; k < outs; k++) tensors.push({ producer: v, consumers: [] });
  }
  // Shuffle tensor order too.
  for (let i = tensors.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [tensors[i], tensors[j]] = [tensors[j]!, tensors[i]!];
  }
  return { nodeCount, tensors };
}

/** The solver's answer or the error code, so that infeasible problems compare too. */
export function attempt<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw e;
  }
}

export function closedUnderPredecessors(p: { tensors: { producer: number; consumers: number[] }[] }, onEdge: boolean[]): boolean {
  return p.tensors.every((t) => t.producer < 0 || onEdge[t.producer] || t.consumers.every((c) => !onEdge[c]));
}
