// Emitting gradient ops: the graph Emitter (fresh names, shared constants, opset-dependent op
// forms) over a model's main graph, appending after the forward graph, with what only
// gradients need: the autodiff tuning, memoised values, and reducing broadcast gradients.

import { DataType } from '../../ir/dtype.js';
import type { Model, Value } from '../../ir/graph.js';
import { Emitter, type OutInfo, staticShape } from '../emit.js';
import { gradTuning, type GradTuning, type GradTuningOptions } from './tuning.js';
import { needsInputShapes } from '../diagnostics.js';

export { infoOf, staticShape, type OutInfo } from '../emit.js';

export class GradBuilder extends Emitter {
  /** Where the rules switch formulations (AutodiffOptions.tuning). */
  readonly tuning: GradTuning;
  /** Values made once per builder, by key (flipped weights, one-hot kernels). */
  private readonly made = new Map<string, Value>();

  constructor(
    readonly model: Model,
    tuning: GradTuningOptions = {},
  ) {
    super(model.graph, { opset: model.opset, initializers: model.irVersion >= 4, scope: 'grad' });
    this.tuning = gradTuning(tuning);
  }

  /** The value made for `key` by this builder, made now by `make` the first time. */
  memo(key: string, make: () => Value): Value {
    let v = this.made.get(key);
    if (!v) this.made.set(key, (v = make()));
    return v;
  }

  taken(name: string): boolean {
    return this.names.has(name);
  }

  /** Reserve an exact name (a graph output's); false when it is taken. */
  claim(name: string): boolean {
    return this.names.claim(name);
  }

  /** Pad with static pads, constant mode (said explicitly) with 0. */
  override pad(x: Value, pads: number[], out?: OutInfo): Value {
    return super.pad(x, pads, out, 'constant');
  }

  /**
   * Reduce a gradient `dy` (with the broadcast shape of `y`) back to the shape of operand
   * `x`: sum over the leading axes `x` lacks and over the axes where `x` has size 1 and
   * `y` does not. Needs the ranks of `x` and `y`.
   */
  sumToShape(dy: Value, x: Value, y: Value): Value {
    const xs = x.shape;
    const ys = y.shape;
    if (!xs || !ys) {
      throw needsInputShapes('E_AUTODIFF', `cannot reduce the gradient of broadcast operand '${x.name}' to its shape: the rank of '${xs ? y.name : x.name}' is unknown`);
    }
    const lead = ys.length - xs.length;
    const axes: number[] = [];
    for (let i = 0; i < lead; i++) axes.push(i);
    for (let i = 0; i < xs.length; i++) {
      const yd = ys[i + lead];
      if (xs[i] === 1 && yd !== 1) axes.push(i + lead);
    }
    if (axes.length === 0) return dy;
    const reduced = this.reduceSum(dy, axes, true, { dtype: x.dtype ?? DataType.FLOAT });
    return lead > 0 ? this.reshapeLike(reduced, x) : reduced;
  }
}

/** `staticShape`, or a coded error naming the value and what needs it. */
export function requireStaticShape(v: Value, what: string): number[] {
  const s = staticShape(v);
  if (!s) {
    throw needsInputShapes('E_AUTODIFF', `${what} needs the static shape of '${v.name}', which is ${v.shape ? `[${v.shape.map((d) => d ?? '?').join(',')}]` : 'unknown'}`);
  }
  return s;
}
