// Splitting a labelled data set among simulated clients: IID (a seeded shuffle cut into equal
// parts) and non-IID by a Dirichlet(α) over clients per class (Hsu et al. 2019), the usual
// benchmark of federated algorithms; per-client class counts; a client's subset of the data.

import { SplitcError } from '../../ir/errors.js';
import { shuffleInPlace, xorshift32 } from '../../ir/random.js';
import type { ClientData } from './types.js';

type Labels = ArrayLike<number>;

function checkClients(n: number, clients: number): void {
  if (!Number.isInteger(clients) || clients < 1 || clients > n) {
    throw new SplitcError('E_BAD_ARGUMENT', `cannot give ${clients} clients at least one of ${n} samples each`, { hint: 'use between 1 and as many clients as samples' });
  }
}

const ascending = (a: number, b: number): number => a - b;

/** IID: the sample indices shuffled (seeded) and cut into `clients` parts of ⌊n/K⌋ or ⌈n/K⌉, each sorted. */
export function partitionIid(labels: Labels, clients: number, seed: number): number[][] {
  const n = labels.length;
  checkClients(n, clients);
  const order = Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(order, xorshift32(seed));
  return Array.from({ length: clients }, (_, k) => order.slice(Math.floor((k * n) / clients), Math.floor(((k + 1) * n) / clients)).sort(ascending));
}

/**
 * Non-IID: for each class (in order), proportions p ~ Dir(α, …, α) over the clients, and the
 * class's shuffled indices cut at the cumulative proportions (rounded). Small α gives each
 * client few classes; large α approaches IID. A client left with no sample then takes one
 * from the client holding most (lowest index on ties): while some client is empty, the n ≥ K
 * samples sit with at most K − 1 clients, so the donor has at least two and stays non-empty.
 * Deterministic per seed (one xorshift32 stream); each part is sorted.
 */
export function partitionDirichlet(labels: Labels, clients: number, alpha: number, seed: number): number[][] {
  const n = labels.length;
  checkClients(n, clients);
  if (!(alpha > 0 && Number.isFinite(alpha))) throw new SplitcError('E_BAD_ARGUMENT', `the Dirichlet concentration α must be positive, got ${alpha}`, { hint: 'e.g. 0.1 (skewed) … 100 (close to IID)' });
  const r = xorshift32(seed);
  const normal = gaussian(r);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    let list = byClass.get(c);
    if (!list) byClass.set(c, (list = []));
    list.push(i);
  }
  const parts: number[][] = Array.from({ length: clients }, () => []);
  for (const c of [...byClass.keys()].sort(ascending)) {
    const indices = byClass.get(c)!;
    shuffleInPlace(indices, r);
    const p = dirichlet(clients, alpha, r, normal);
    let cumulative = 0;
    let start = 0;
    for (let k = 0; k < clients; k++) {
      cumulative += p[k]!;
      const end = k === clients - 1 ? indices.length : Math.min(indices.length, Math.round(cumulative * indices.length));
      for (let j = start; j < end; j++) parts[k]!.push(indices[j]!);
      start = Math.max(start, end);
    }
  }
  for (let k = 0; k < clients; k++) {
    if (parts[k]!.length > 0) continue;
    let donor = 0;
    for (let j = 1; j < clients; j++) if (parts[j]!.length > parts[donor]!.length) donor = j;
    parts[k]!.push(parts[donor]!.pop()!);
  }
  return parts.map((part) => part.sort(ascending));
}

/** A draw of Dir(α, …, α) of `k` components, from Gamma(α) draws normalised (in log space: for small α the draws underflow). */
function dirichlet(k: number, alpha: number, r: () => number, normal: () => number): Float64Array {
  const logs = Float64Array.from({ length: k }, () => logGamma(alpha, r, normal));
  let max = -Infinity;
  for (const l of logs) max = Math.max(max, l);
  let sum = 0;
  const p = logs.map((l) => Math.exp(l - max));
  for (const v of p) sum += v;
  return p.map((v) => v / sum);
}

/**
 * log of a Gamma(α, 1) draw. Marsaglia & Tsang (2000) for α ≥ 1; for α < 1, the boost
 * Gamma(α) = Gamma(α + 1)·U^(1/α), kept as a logarithm. xorshift32 never yields 0, so U > 0.
 */
function logGamma(alpha: number, r: () => number, normal: () => number): number {
  if (alpha < 1) return logGamma(alpha + 1, r, normal) + Math.log(r()) / alpha;
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = r();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
  }
}

/** Standard normal draws by Box–Muller over `r`. */
function gaussian(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r());
}

/** Samples of each class per client: counts[k][c] (for the per-client report). */
export function partitionCounts(parts: readonly (readonly number[])[], labels: Labels, classes: number): number[][] {
  return parts.map((part) => {
    const counts = new Array<number>(classes).fill(0);
    for (const i of part) {
      const c = labels[i]!;
      if (c >= 0 && c < classes) counts[c]!++;
    }
    return counts;
  });
}

/** The samples `indices` of `data`, copied, in that order. */
export function subset(data: ClientData, indices: readonly number[]): ClientData {
  const per = data.shape.reduce((a, d) => a * d, 1);
  const images = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  indices.forEach((i, k) => {
    if (!(i >= 0 && i < data.n)) throw new SplitcError('E_BAD_ARGUMENT', `sample index ${i} outside the ${data.n} samples`);
    images.set(data.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = data.labels[i]!;
  });
  return { images, labels, n: indices.length, shape: data.shape };
}
