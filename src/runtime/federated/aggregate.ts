// Server-side aggregation of client updates: FedAvg (McMahan et al. 2017), the sample-weighted
// mean of every tensor — parameters and BatchNorm running statistics alike — and the checks
// an update passes before it is averaged in. FedProx changes only the clients' local
// objective (local.ts), so it aggregates with fedAvg too.

import { SplitcError } from '../../ir/errors.js';
import type { ClientUpdate, TrainingTask, Weights } from './types.js';
import { checkWeights } from './weights.js';

/**
 * Throws E_FED_UPDATE unless `update` carries exactly the task's tensors (names, element
 * counts, finite values, non-negative running variances), a whole positive sample count, and
 * a finite loss: a coordinator rejects it rather than average it in.
 */
export function validateUpdate(task: TrainingTask, update: ClientUpdate, round?: number): void {
  const who = `client ${update.client}'s update`;
  const bad = (why: string): SplitcError => new SplitcError('E_FED_UPDATE', `${who} ${why}`);
  if (round !== undefined && update.round !== round) throw bad(`is for round ${update.round}, not the current round ${round}`);
  if (!Number.isInteger(update.samples) || update.samples < 1) throw bad(`claims ${update.samples} samples (a whole number ≥ 1 is needed)`);
  if (!Number.isFinite(update.loss)) throw bad(`has a loss that is not finite (${update.loss})`);
  checkWeights(task, update.weights, who);
}

/**
 * FedAvg: Σ_k n_k w_k / Σ_k n_k for every tensor, n_k the client's `samples`, accumulated in
 * float64 in the order of the client ids (so the result does not depend on arrival order),
 * rounded to float32 once. Updates are assumed validated; they must agree with each other on
 * tensor names and sizes (E_FED_UPDATE otherwise).
 */
export function fedAvg(updates: readonly ClientUpdate[]): Weights {
  if (updates.length === 0) throw new SplitcError('E_FED_UPDATE', 'no client updates to average', { hint: 'a round needs at least one accepted update' });
  const sorted = [...updates].sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
  const first = sorted[0]!;
  let total = 0;
  for (const u of sorted) {
    if (!(u.samples > 0)) throw new SplitcError('E_FED_UPDATE', `client ${u.client}'s update claims ${u.samples} samples`);
    total += u.samples;
    if (u.weights.size !== first.weights.size) throw new SplitcError('E_FED_UPDATE', `client ${u.client}'s update has ${u.weights.size} tensors, client ${first.client}'s ${first.weights.size}`);
  }
  const out: Weights = new Map();
  for (const [name, w0] of first.weights) {
    const acc = new Float64Array(w0.length);
    for (const u of sorted) {
      const w = u.weights.get(name);
      if (!w || w.length !== w0.length) throw new SplitcError('E_FED_UPDATE', `client ${u.client}'s update ${w ? `has ${w.length} elements in '${name}', client ${first.client}'s ${w0.length}` : `lacks '${name}'`}`);
      const s = u.samples;
      for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + s * w[i]!;
    }
    const mean = new Float32Array(acc.length);
    for (let i = 0; i < acc.length; i++) mean[i] = acc[i]! / total;
    out.set(name, mean);
  }
  return out;
}
