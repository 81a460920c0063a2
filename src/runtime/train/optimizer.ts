// Optimizers over parameters held as named Float32Arrays, updated in place. The update
// order and arithmetic are fixed, so a run resumed from a checkpoint continues bit for bit.

import { SplitcError } from '../../ir/errors.js';

export type OptimizerConfig =
  | { kind: 'sgd'; lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number }
  | { kind: 'adam'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; /** AdamW: decay the weights directly instead of adding to the gradient. */ decoupled?: boolean };

export interface Optimizer {
  readonly config: OptimizerConfig;
  /** Steps taken. */
  step: number;
  /** Apply one update with the given learning rate (the schedule's value for this step). */
  update(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void;
  /** Named state buffers (for checkpoints), e.g. 'm:conv1.weight'. */
  state(): Map<string, Float32Array>;
  loadState(step: number, state: Map<string, Float32Array>): void;
}

export function createOptimizer(config: OptimizerConfig): Optimizer {
  if (!(config.lr > 0)) throw new SplitcError('E_BAD_ARGUMENT', `learning rate must be positive, got ${config.lr}`);
  const buffers = new Map<string, Float32Array>();
  const buffer = (key: string, n: number): Float32Array => {
    let b = buffers.get(key);
    if (!b) {
      b = new Float32Array(n);
      buffers.set(key, b);
    }
    return b;
  };
  const opt: Optimizer = {
    config,
    step: 0,
    update(params, grads, lr) {
      opt.step++;
      for (const [name, p] of params) {
        const g = grads.get(name);
        if (!g) continue;
        if (g.length !== p.length) throw new SplitcError('E_AUTODIFF', `gradient of '${name}' has ${g.length} elements, the parameter ${p.length}`);
        if (config.kind === 'sgd') sgd(p, g, buffer(`momentum:${name}`, p.length), lr, config);
        else adam(p, g, buffer(`m:${name}`, p.length), buffer(`v:${name}`, p.length), lr, opt.step, config);
      }
    },
    state: () => buffers,
    loadState(step, state) {
      opt.step = step;
      buffers.clear();
      for (const [k, v] of state) buffers.set(k, Float32Array.from(v));
    },
  };
  return opt;
}

function sgd(p: Float32Array, g: Float32Array, buf: Float32Array, lr: number, c: Extract<OptimizerConfig, { kind: 'sgd' }>): void {
  const mu = c.momentum ?? 0;
  const wd = c.weightDecay ?? 0;
  const nesterov = c.nesterov ?? false;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! + wd * p[i]!;
    if (mu === 0) {
      p[i] = p[i]! - lr * gi;
      continue;
    }
    const b = mu * buf[i]! + gi;
    buf[i] = b;
    p[i] = p[i]! - lr * (nesterov ? gi + mu * b : b);
  }
}

function adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, t: number, c: Extract<OptimizerConfig, { kind: 'adam' }>): void {
  const b1 = c.beta1 ?? 0.9;
  const b2 = c.beta2 ?? 0.999;
  const eps = c.eps ?? 1e-8;
  const wd = c.weightDecay ?? 0;
  const decoupled = c.decoupled ?? false;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i]!;
    if (wd && !decoupled) gi += wd * p[i]!;
    const mi = b1 * m[i]! + (1 - b1) * gi;
    const vi = b2 * v[i]! + (1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let pi = p[i]!;
    if (wd && decoupled) pi -= lr * wd * pi;
    p[i] = pi - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}

/** Learning rate at a step: constant, or cosine decay to 0 over `total` steps after a linear warm-up. */
export function scheduledLr(base: number, step: number, schedule: { kind: 'constant' } | { kind: 'cosine'; total: number; warmup?: number }): number {
  if (schedule.kind === 'constant') return base;
  const warm = schedule.warmup ?? 0;
  if (step < warm) return (base * (step + 1)) / warm;
  const t = Math.min(1, (step - warm) / Math.max(1, schedule.total - warm));
  return 0.5 * base * (1 + Math.cos(Math.PI * t));
}
