// What every partition search shares: the tie tolerance, validation of a problem's costs and
// arrays (E_PLAN), and the E_CONSTRAINT error when no placement has a finite cost.

import { SplitcError } from '../../ir/errors.js';

/** Costs within this relative distance are a tie. */
export const REL_TOL = 1e-9;

export function nearlyEqual(a: number, b: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= REL_TOL * Math.max(Math.abs(a), Math.abs(b));
}

/** a is lower than b by more than the tie tolerance. */
export function clearlyLess(a: number, b: number): boolean {
  return a < b && !nearlyEqual(a, b);
}

/** Weighted cost where 0 × Infinity stays Infinity (a forbidden placement stays forbidden). */
export function scaled(x: number, w: number): number {
  return x === Infinity ? Infinity : x * w;
}

export function planError(message: string, hint: string): SplitcError {
  return new SplitcError('E_PLAN', message, { hint });
}

export function checkCost(x: unknown, where: string): number {
  if (typeof x !== 'number' || Number.isNaN(x) || x < 0) {
    throw planError(`${where} is ${String(x)}, not a cost`, 'costs are numbers ≥ 0; use Infinity for "not allowed"');
  }
  return x;
}

export function checkLength(a: unknown, length: number, where: string): void {
  if (!Array.isArray(a) || a.length !== length) {
    const got = Array.isArray(a) ? `${a.length} entries` : String(a);
    throw planError(`${where} has ${got}, expected ${length}`, 'cost arrays are aligned with the options / tiers / devices of the problem');
  }
}

export function checkOptions(options: unknown): number {
  if (!Array.isArray(options) || options.length === 0 || options.some((o) => typeof o !== 'string')) {
    throw planError('the problem has no compression options', "give at least one option name (e.g. ['none'])");
  }
  return options.length;
}

export function argMin(row: readonly number[]): number {
  let best = 0;
  for (let o = 1; o < row.length; o++) if (row[o]! < row[best]!) best = o;
  return best;
}

export function checkNodeList(nodes: unknown): number {
  if (!Array.isArray(nodes)) throw planError('the problem has no node list', 'give nodes: [] for an empty model');
  return nodes.length;
}

export function infeasibleError(what: string, nodeCosts: (v: number) => number[], n: number): SplitcError {
  for (let v = 0; v < n; v++) {
    if (nodeCosts(v).every((c) => c === Infinity)) {
      return new SplitcError('E_CONSTRAINT', `no feasible ${what}: node ${v} may run nowhere (every cost is Infinity)`, {
        hint: 'give the node a finite cost on at least one side',
      });
    }
  }
  return new SplitcError('E_CONSTRAINT', `no feasible ${what}: every placement runs a node where it may not run or sends a tensor no option can carry`, {
    hint: 'a node that needs data from a device it may not run beside must be able to run on the cloud, and the tensors it reads need a finite transfer cost',
  });
}
