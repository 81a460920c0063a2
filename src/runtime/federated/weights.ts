// The tensors a training task trains (parameters, then BatchNorm running statistics) and the
// checks every set of federated weights passes before it is trained from or averaged in.
// Platform-neutral (browser clients use it): imports only the vocabulary and SplitcError.

import { SplitcError } from '../../ir/errors.js';
import type { TensorSpec, TrainingTask, Weights } from './types.js';

/** Every tensor of the task's weights, in the task's order: parameters, then each BatchNorm's mean and variance. */
export function taskTensors(task: TrainingTask): TensorSpec[] {
  return [...task.params, ...task.stats.flatMap((s) => [{ name: s.mean, dims: s.dims }, { name: s.variance, dims: s.dims }])];
}

export const elementCount = (dims: readonly number[]): number => dims.reduce((a, d) => a * d, 1);

/**
 * Throws E_FED_UPDATE unless `weights` holds exactly the task's tensors, each with its element
 * count and only finite values, and running variances are not negative. `what` names the
 * weights in the message (e.g. "client c3's update").
 */
export function checkWeights(task: TrainingTask, weights: Weights, what: string): void {
  const bad = (why: string): SplitcError =>
    new SplitcError('E_FED_UPDATE', `${what} ${why}`, { hint: 'send every parameter and running statistic of the round’s task, as float32 tensors of its shapes' });
  const specs = taskTensors(task);
  const expected = new Set(specs.map((s) => s.name));
  for (const name of weights.keys()) if (!expected.has(name)) throw bad(`has a tensor '${name}' the task does not train`);
  const variances = new Set(task.stats.map((s) => s.variance));
  for (const spec of specs) {
    const w = weights.get(spec.name);
    if (!w) throw bad(`lacks the tensor '${spec.name}'`);
    if (!(w instanceof Float32Array)) throw bad(`has '${spec.name}' that is not float32`);
    const n = elementCount(spec.dims);
    if (w.length !== n) throw bad(`has ${w.length} elements in '${spec.name}', the task [${spec.dims.join(', ')}] = ${n}`);
    const negativeOk = !variances.has(spec.name);
    for (let i = 0; i < w.length; i++) {
      const v = w[i]!;
      if (!Number.isFinite(v)) throw bad(`has a value that is not finite in '${spec.name}' (element ${i}: ${v})`);
      if (!negativeOk && v < 0) throw bad(`has a negative running variance in '${spec.name}' (element ${i}: ${v})`);
    }
  }
}

/** Copies of every tensor (a client's buffers are reused, an update must not alias them). */
export function copyWeights(weights: Weights): Weights {
  return new Map([...weights].map(([name, w]) => [name, w.slice()]));
}

/** What the weights take on the wire as float32 tensors (no framing). */
export function weightsBytes(weights: Weights): number {
  let bytes = 0;
  for (const w of weights.values()) bytes += w.byteLength;
  return bytes;
}
