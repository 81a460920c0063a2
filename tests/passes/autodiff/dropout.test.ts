// Gradient rule for Dropout: the identity in inference mode, and in training mode checked
// against the forward's own mask (runs in double).

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/graph.js';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, gradCheck, differentiateError } from './gradcheck.js';
import { expectGrad, numel } from './window-helpers.js';

// ---------------------------------------------------------------- Dropout

// Dropout runs in double too, so the inference checks are float64 (default step and tolerance).
describe('Dropout gradient in inference mode: the identity', () => {
  it('no training_mode input (opset 13), ratio given', async () => {
    const r = await gradCheck({ build: (b, dt) => b.op('Dropout', [b.input('x', dt, [2, 3, 4]), b.init('ratio', DataType.FLOAT, [], [0.3])]), inputs: { x: { dims: [2, 3, 4] } }, opset: 13 });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect([...r.gradModel.graph.nodes].map((n) => n.opType)).not.toContain('Where');
  });

  it('training_mode a constant false, with a mask output (opset 12)', async () => {
    await expectGrad({
      build: (b, dt) => b.opMulti('Dropout', [b.input('x', dt, [3, 5]), b.init('ratio', dt, [], [0.6]), b.init('t', DataType.BOOL, [], [0])], 2, { seed: 1 })[0]!,
      inputs: { x: { dims: [3, 5] } },
      opset: 12,
    });
  });

  it('an opset-7 Dropout (ratio attribute, mask unused) is upgraded to opset 13 and passes dy through', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.opMulti('Dropout', [b.input('x', dt, [2, 5])], 2, { ratio: attr.float('ratio', 0.3) })[0]!,
      inputs: { x: { dims: [2, 5] } },
      opset: 7,
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.autodiff.opset).toEqual({ from: 7, to: 13 });
    const dropout = [...r.gradModel.graph.nodes].find((n) => n.opType === 'Dropout')!;
    expect(dropout.attr('ratio')).toBeUndefined(); // became an input
  });

  it('an opset-7 Dropout whose (float) mask is used cannot be upgraded: a coded E_OPSET error', () => {
    const b = new GraphBuilder('t');
    const [y, mask] = b.opMulti('Dropout', [b.input('x', DataType.FLOAT, [4])], 2, {});
    b.output(b.op('ReduceSum', [b.op('Mul', [y!, mask!])], { keepdims: 1 }, { outputNames: ['loss'] }));
    const e = differentiateError(b.model({ opset: 7 }), { wrt: ['x'], loss: 'loss' });
    expect(e.code).toBe('E_OPSET');
    expect(e.message).toMatch(/mask/);
  });
});

interface TrainingCase {
  dtype: 'float32' | 'float64';
  /** A constant ratio (of the given element type), 'input' for one fed at run time, or null for none (0.5). */
  ratio: { value: number; type: 'float32' | 'float64' } | 'input' | null;
  /** Whether the forward node declares its mask output (as a graph output). */
  withMask: boolean;
  opset: number;
  /** training_mode fed at run time with this value (default: a constant true). */
  trainingFed?: boolean;
}

/**
 * Training mode: the forward draws a new mask every run, so finite differences cannot see
 * the gradient. Instead one run of the gradient graph returns y, the mask and dx, and
 * dx must be dY / (1 − ratio) where the mask is set and 0 elsewhere, divided the way
 * onnxruntime computes y (checked from y = x / (1 − ratio) · mask in the same run): 1 −
 * ratio taken in float32, the division in the data's type. Both sides are one rounded
 * division of the same two numbers, so equality is exact.
 */
async function dropoutTraining(c: TrainingCase): Promise<{ model: Model; mask: boolean[] }> {
  const dims = [3, 4, 5];
  const n = numel(dims);
  const dt = c.dtype === 'float32' ? DataType.FLOAT : DataType.DOUBLE;
  const b = new GraphBuilder('dropout');
  const x = b.input('x', dt, dims);
  const ratioIn =
    c.ratio === null ? null : c.ratio === 'input' ? b.input('ratio', DataType.FLOAT, []) : b.init('ratio', c.ratio.type === 'float32' ? DataType.FLOAT : DataType.DOUBLE, [], [c.ratio.value]);
  const training = c.trainingFed === undefined ? b.init('training', DataType.BOOL, [], [1]) : b.input('training', DataType.BOOL, []);
  const outs = b.opMulti('Dropout', [x, ratioIn, training], c.withMask ? 2 : 1, { seed: 11 }, { outputNames: c.withMask ? ['y', 'mask'] : ['y'] });
  for (const o of outs) b.output(o);
  const model = b.model({ opset: c.opset });
  differentiate(model, { wrt: ['x'], seeds: { y: 'dY' }, inputShapes: { x: dims } });
  assertValid(model);
  const g = model.graph;
  const dropouts = [...g.nodes].filter((nd) => nd.opType === 'Dropout');
  expect(dropouts).toHaveLength(1);
  const [y, maskValue] = dropouts[0]!.outputs;
  expect(y!.name).toBe('y');
  expect(maskValue?.name).toBeTruthy();
  if (!c.withMask) g.outputs.push(maskValue!); // the mask the rule added, exposed to compare with

  const ratio = c.ratio === null ? 0.5 : c.ratio === 'input' ? 0.3 : c.ratio.value;
  const kept = Math.fround(1 - Math.fround(ratio));
  const round = c.dtype === 'float32' ? Math.fround : (v: number) => v;
  const rnd = xorshift32(31);
  const xs = Array.from({ length: n }, () => round(rnd() * 2 - 1));
  const dys = Array.from({ length: n }, () => round(rnd() * 2 - 1));
  const tensor = (data: number[], shape: number[]) => new ort.Tensor(c.dtype, c.dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), shape);
  const feeds: Record<string, ort.Tensor> = { x: tensor(xs, dims), dY: tensor(dys, dims) };
  if (c.ratio === 'input') feeds.ratio = new ort.Tensor('float32', Float32Array.from([ratio]), []);
  if (c.trainingFed !== undefined) feeds.training = new ort.Tensor('bool', Uint8Array.from([c.trainingFed ? 1 : 0]), []);
  const sess = await ort.InferenceSession.create(modelToBytes(model));
  const out = await sess.run(feeds);
  await sess.release();
  const mask = Array.from(out[maskValue!.name]!.data as Uint8Array, (v) => v !== 0);
  const yv = Array.from(out.y!.data as Float32Array | Float64Array);
  const dx = Array.from(out['grad:x']!.data as Float32Array | Float64Array);
  const inference = c.trainingFed === false;
  for (let i = 0; i < n; i++) {
    // (+ 0: a dropped negative element may be −0)
    expect(yv[i]! + 0, `y[${i}]`).toBe(inference ? xs[i] : mask[i] ? round(xs[i]! / kept) : 0);
    expect(dx[i]! + 0, `dx[${i}]`).toBe(inference ? dys[i] : mask[i] ? round(dys[i]! / kept) : 0);
  }
  return { model, mask };
}

describe('Dropout gradient in training mode (the forward\'s own mask)', () => {
  const cases: [string, TrainingCase][] = [
    ['float64, mask output declared, float32 ratio 0.3', { dtype: 'float64', ratio: { value: 0.3, type: 'float32' }, withMask: true, opset: 13 }],
    ['float64, no mask output (the rule adds one), float64 ratio 0.25', { dtype: 'float64', ratio: { value: 0.25, type: 'float64' }, withMask: false, opset: 13 }],
    ['float32, no mask output, ratio fed at run time', { dtype: 'float32', ratio: 'input', withMask: false, opset: 13 }],
    ['float32, mask output declared, default ratio (0.5), opset 12', { dtype: 'float32', ratio: null, withMask: true, opset: 12 }],
  ];
  it.each(cases)('%s', async (_, c) => {
    const { mask } = await dropoutTraining(c);
    // both kept and dropped elements, so the check covers both branches
    expect(mask.some((m) => m)).toBe(true);
    expect(mask.some((m) => !m)).toBe(true);
  });

  it('ratio 0 keeps everything: dx = dy', async () => {
    const { mask } = await dropoutTraining({ dtype: 'float64', ratio: { value: 0, type: 'float32' }, withMask: false, opset: 13 });
    expect(mask.every((m) => m)).toBe(true);
  });

  it('training_mode fed at run time: true masks the gradient', async () => {
    const { mask } = await dropoutTraining({ dtype: 'float64', ratio: { value: 0.4, type: 'float32' }, withMask: false, opset: 13, trainingFed: true });
    expect(mask.some((m) => m)).toBe(true);
    expect(mask.some((m) => !m)).toBe(true);
  });

  it('training_mode fed at run time: false passes the gradient through', async () => {
    await dropoutTraining({ dtype: 'float32', ratio: 'input', withMask: true, opset: 13, trainingFed: false });
  });
});
