// The data-free attack (Dong et al. with DeepInversion's synthesis) on the project's
// Fashion-MNIST ResNet: with no data at all it reconstructs held-out test images from a shallow
// cut far better than the mean training image does; it splits the edge part at single-tensor
// cuts after nonlinearities with weights in every block; an edge part without BatchNorm is
// skipped with a code; the same seed gives the same reconstructions.

import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { blockBoundaries, runDatafree } from '../../src/audit/datafree.js';
import { createSession, frozenEdge, runStacked, stack } from '../../src/audit/inverse-net.js';
import { psnr, ssim } from '../../src/audit/metrics.js';
import { attackTarget } from '../../src/audit/target.js';
import type { AttackTarget, Probe } from '../../src/audit/types.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { cutAfterNode } from '../../src/passes/cut.js';
import { foldBatchNorm } from '../../src/passes/fold-batchnorm.js';
import { cloneModel } from '../../src/passes/training-graph.js';
import { fixturesDir } from '../helpers/fixtures.js';

import { DIMS, fashionSet, mean, probesFor, rangeAndMean, samples } from './fashion.js';

describe('data-free attack on the Fashion-MNIST ResNet', () => {
  const model = loadModel(path.join(fixturesDir, 'fashion_mnist_resnet.onnx'));
  let meanImage: Float32Array;
  let range: { lo: number[]; hi: number[] };
  const targetAfter = (node: string): AttackTarget => attackTarget(model, { cut: cutAfterNode(model, node), range });
  let target: AttackTarget;
  let probes: Probe[];

  beforeAll(async () => {
    // training images only for the baseline and the range: the attack itself sees no data
    const train = fashionSet('train', 1024);
    const t10k = fashionSet('t10k', 8);
    ({ range, meanImage } = rangeAndMean(train));
    target = targetAfter('Relu_3');
    probes = await probesFor(target, samples(t10k.images, t10k.n));
  });

  it('reconstructs test images from a shallow cut with no data, much better than the mean training image', async () => {
    const phases = new Set<string>();
    const r = await runDatafree(target, probes, { budget: 'fast', seed: 1, threads: 2, onProgress: (p) => phases.add(p.phase) });
    expect(r.skipped).toBeUndefined();
    expect(r.attack).toBe('datafree');
    expect(r.reconstructions).toHaveLength(probes.length);
    const span = range.hi[0]! - range.lo[0]!;
    const attack = probes.map((p, i) => ssim(p.x, r.reconstructions[i]!, DIMS, span));
    const baseline = probes.map((p) => ssim(p.x, meanImage, DIMS, span));
    expect(mean(attack)).toBeGreaterThan(0.5);
    expect(mean(attack)).toBeGreaterThan(mean(baseline) + 0.3);
    expect(mean(probes.map((p, i) => psnr(p.x, r.reconstructions[i]!, span)))).toBeGreaterThan(mean(probes.map((p) => psnr(p.x, meanImage, span))) + 3);
    for (const x of r.reconstructions) for (const v of x) expect(v >= range.lo[0]! - 1e-5 && v <= range.hi[0]! + 1e-5).toBe(true);
    expect(r.featureDistance).toHaveLength(probes.length);
    for (const d of r.featureDistance) expect(d).toBeLessThan(0.5);
    expect(r.details).toMatchObject({ blocks: 1, boundaries: '(none)' });
    expect(r.details['cycleSteps']).toBeGreaterThan(0);
    expect([...phases]).toEqual(['datafree: synthesis', 'datafree: block 1/1', 'datafree: cycle tuning']);
  });

  it('splits the edge part after nonlinearities that every path crosses, with weights in every block', () => {
    // relu_6 (inside stage 1's residual block) is bypassed by the shortcut; add_10 → relu_12 keeps the Relu
    expect(blockBoundaries(targetAfter('Relu_37'), 4).map((b) => b.name)).toEqual(['relu_2', 'relu_12', 'relu_24']);
    expect(blockBoundaries(targetAfter('Relu_37'), 3).map((b) => b.name)).toEqual(['relu_12', 'relu_24']);
    expect(blockBoundaries(targetAfter('Relu_37'), 1)).toEqual([]);
    // add_10 is a single-tensor cut but its block to the observed relu_12 would hold no weights
    expect(blockBoundaries(targetAfter('Relu_13'), 4).map((b) => b.name)).toEqual(['relu_2']);
    expect(blockBoundaries(targetAfter('Relu_3'), 4)).toEqual([]);
    const [b] = blockBoundaries(targetAfter('Relu_25'), 2);
    expect(b).toEqual({ name: 'relu_12', dims: [16, 28, 28], activation: { kind: 'relu' } });
  });

  it('re-encodes through the edge part with BatchNorm frozen as deployed (the copy in the cycle graph computes what the target does)', async () => {
    const deep = targetAfter('Relu_25');
    const frozen = frozenEdge(deep, 17);
    expect([...frozen.graph.nodes].some((n) => n.opType === 'BatchNormalization')).toBe(false);
    const xs = probes.map((p) => p.x);
    const run = async (m: typeof frozen): Promise<Float32Array> => {
      const s = await createSession(m, 2);
      try {
        return (await runStacked(s, deep.input, stack(xs, DIMS), [deep.observed[0]!.name], 8))[0]!.data;
      } finally {
        await s.release();
      }
    };
    const want = await run(deep.model);
    const got = await run(frozen);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-3);
  });

  it('is skipped with W_AUDIT_NO_BATCHNORM when the edge part has no BatchNorm', async () => {
    const folded = cloneModel(model);
    foldBatchNorm(folded);
    const noBn = attackTarget(folded, { cut: cutAfterNode(folded, 'Relu_3'), range });
    expect([...noBn.model.graph.nodes].some((n) => n.opType === 'BatchNormalization')).toBe(false);
    const r = await runDatafree(noBn, probes, { budget: 'fast', seed: 1, threads: 2 });
    expect(r.skipped?.code).toBe('W_AUDIT_NO_BATCHNORM');
    expect(r.reconstructions).toEqual([]);
    expect(r.featureDistance).toEqual([]);
  });

  it('gives the same figures for the same seed, other figures for another; the cycle tuning brings E(x̂) closer to z', async () => {
    const small = { synthSamples: 16, synthBatch: 16, synthSteps: 10, blockSteps: 8, cycleSteps: 40, batch: 8 };
    const deeper = targetAfter('Relu_13');
    const deeperProbes = await probesFor(deeper, probes.slice(0, 3).map((p) => p.x));
    const ctx = { budget: 'fast' as const, threads: 2 };
    const a = await runDatafree(deeper, deeperProbes, { ...ctx, seed: 7 }, small);
    const b = await runDatafree(deeper, deeperProbes, { ...ctx, seed: 7 }, small);
    const c = await runDatafree(deeper, deeperProbes, { ...ctx, seed: 8 }, small);
    expect(a.details['blocks']).toBe(2);
    expect(b.reconstructions).toEqual(a.reconstructions);
    expect(b.featureDistance).toEqual(a.featureDistance);
    const figures = (d: Record<string, number | string>) => Object.fromEntries(Object.entries(d).filter(([k]) => !k.endsWith('Seconds')));
    expect(figures(b.details)).toEqual(figures(a.details));
    expect(c.reconstructions).not.toEqual(a.reconstructions);
    // the same steps with the cycle term weighted 0: only the synthetic pairs' MSE
    const anchorOnly = await runDatafree(deeper, deeperProbes, { ...ctx, seed: 7 }, { ...small, cycleWeight: 0 });
    expect(anchorOnly.details['cycleSteps']).toBe(a.details['cycleSteps']);
    expect(mean(a.featureDistance)).toBeLessThan(0.8 * mean(anchorOnly.featureDistance));
  });
});
