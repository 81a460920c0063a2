// The latency fit: NNLS and the per-op-class fit on synthetic noiseless data, fit reports, and
// the node features of the classifier fixture.
import { describe, expect, it } from 'vitest';
import { SplitcError } from '../../src/ir/errors.js';
import { xorshift32 } from '../../src/ir/random.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { fitLatencyModel, fitReport, leaveOneModelOut, median, nnls, nodeFeatures, segmentRelativeErrors, type LatencySample, type ProfiledModelData } from '../../src/search/latency-fit.js';
import type { NodeFeatures, OpClassCoefficients } from '../../src/search/profiles/types.js';
import { cls, computeNodeNames } from './profiler/fixtures.js';

function syntheticNodes(count: number, opType: string, seed: number, prefix = opType): NodeFeatures[] {
  const r = xorshift32(seed);
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}.${i}`,
    opType,
    macs: opType === 'Conv' || opType === 'MatMul' ? Math.round(1e5 + r() * 5e7) : 0,
    bytes: Math.round(1e3 + r() * 4e6),
  }));
}

const exact = (c: OpClassCoefficients, f: NodeFeatures): number => c.msPerGMac * (f.macs / 1e9) + c.msPerMB * (f.bytes / 1e6) + c.msFixed;

describe('nnls', () => {
  it('recovers the coefficients of noiseless data', () => {
    const r = xorshift32(7);
    const rows = Array.from({ length: 40 }, () => [r() * 0.05, r() * 4, 1]);
    const y = rows.map(([a, b, c]) => 3 * a! + 0.25 * b! + 0.01 * c!);
    const x = nnls(rows, y);
    expect(x[0]).toBeCloseTo(3, 9);
    expect(x[1]).toBeCloseTo(0.25, 9);
    expect(x[2]).toBeCloseTo(0.01, 9);
  });

  it('clamps a coefficient that least squares makes negative to 0 and is optimal (KKT)', () => {
    const r = xorshift32(11);
    const rows = Array.from({ length: 60 }, () => [r() * 0.05, r() * 4, 1]);
    const y = rows.map(([a, b]) => 2 * a! - 0.3 * b! + 1.5 + 0.01 * Math.sin(a! * 400));
    const x = nnls(rows, y);
    expect(x[1]).toBe(0);
    expect(x.every((v) => v >= 0)).toBe(true);
    // KKT for min ½‖Ax − y‖², x ≥ 0: gradient g = Aᵀ(Ax − y) is 0 where x > 0 and ≥ 0 where x = 0.
    const resid = rows.map((row, i) => row.reduce((a, v, j) => a + v * x[j]!, 0) - y[i]!);
    const g = [0, 1, 2].map((j) => rows.reduce((a, row, i) => a + row[j]! * resid[i]!, 0));
    const scale = y.reduce((a, v) => a + Math.abs(v), 0);
    for (let j = 0; j < 3; j++) {
      if (x[j]! > 0) expect(Math.abs(g[j]!)).toBeLessThan(1e-9 * scale);
      else expect(g[j]!).toBeGreaterThan(-1e-9 * scale);
    }
  });

  it('gives 0 for an all-zero column (elementwise ops have no MACs)', () => {
    const rows = [
      [0, 1, 1],
      [0, 2, 1],
      [0, 5, 1],
    ];
    expect(nnls(rows, [0.6, 1.1, 2.6])).toEqual([0, expect.closeTo(0.5, 9), expect.closeTo(0.1, 9)]);
  });
});

describe('fitLatencyModel', () => {
  const conv: OpClassCoefficients = { msPerGMac: 4, msPerMB: 0.2, msFixed: 0 };
  const add: OpClassCoefficients = { msPerGMac: 0, msPerMB: 0.05, msFixed: 0 };
  const samplesFor = (nodes: NodeFeatures[], c: OpClassCoefficients): LatencySample[] => nodes.map((f) => ({ features: f, ms: exact(c, f) }));

  it('recovers per-class coefficients exactly from noiseless samples', () => {
    const samples = [...samplesFor(syntheticNodes(30, 'Conv', 1), conv), ...samplesFor(syntheticNodes(30, 'Add', 2), add)];
    const lm = fitLatencyModel(samples);
    expect(lm.slowdown).toBe(1);
    for (const [k, want] of [
      ['conv', conv],
      ['elementwise', add],
    ] as const) {
      const got = lm.opClasses[k]!;
      expect(got.msPerGMac).toBeCloseTo(want.msPerGMac, 9);
      expect(got.msPerMB).toBeCloseTo(want.msPerMB, 9);
      expect(got.msFixed).toBe(0);
    }
  });

  it('fits no fixed cost per node: a model of tiny nodes is not charged the large nodes\' intercept', () => {
    // Large nodes whose latency has an intercept: least squares with one would give 0.01 ms per node.
    const big = syntheticNodes(40, 'Conv', 8).map((f) => ({ ...f, bytes: f.bytes + 2e6 }));
    const lm = fitLatencyModel(big.map((f) => ({ features: f, ms: exact(conv, f) + 0.01 })));
    for (const c of [...Object.values(lm.opClasses), lm.default]) expect(c.msFixed).toBe(0);
    const tiny: NodeFeatures = { name: 't', opType: 'Conv', macs: 1000, bytes: 1000 };
    expect(exact(lm.opClasses.conv!, tiny)).toBeLessThan(0.001); // with the intercept: > 0.01
    expect(exact(lm.opClasses.conv!, tiny)).toBeGreaterThan(0);
  });

  it('clamps a negative coefficient to 0 in a class fit', () => {
    // latency falling with bytes at a given MAC count: least squares would say msPerMB < 0
    const r = xorshift32(3);
    const nodes: NodeFeatures[] = Array.from({ length: 30 }, (_, i) => ({ name: `c.${i}`, opType: 'Conv', macs: Math.round(2e7 + r() * 3e7), bytes: Math.round(r() * 4e6) }));
    const samples = nodes.map((f) => ({ features: f, ms: 4 * (f.macs / 1e9) - 0.02 * (f.bytes / 1e6) }));
    const c = fitLatencyModel(samples).opClasses.conv!;
    expect(c.msPerMB).toBe(0);
    expect(c.msPerGMac).toBeGreaterThan(0);
    expect(c.msFixed).toBe(0);
  });

  it('leaves classes with too few samples to the default, fitted over everything', () => {
    const samples = [...samplesFor(syntheticNodes(30, 'Conv', 4), conv), ...samplesFor(syntheticNodes(3, 'Resize', 5), add)];
    const lm = fitLatencyModel(samples, { minSamplesPerClass: 8 });
    expect(Object.keys(lm.opClasses)).toEqual(['conv']);
    expect(lm.default.msPerMB).toBeGreaterThanOrEqual(0);
    expect(() => fitLatencyModel([])).toThrow(SplitcError);
  });

  it('weights samples (weighted least squares)', () => {
    const f: NodeFeatures = { name: 'n', opType: 'Conv', macs: 0, bytes: 1e6 };
    const samples = [
      ...Array.from({ length: 5 }, () => ({ features: f, ms: 1, weight: 1 })),
      ...Array.from({ length: 5 }, () => ({ features: f, ms: 3, weight: 100 })),
    ];
    expect(fitLatencyModel(samples).opClasses.conv!.msPerMB).toBeCloseTo(301 / 101, 9);
    expect(() => fitLatencyModel(samples, { minSamplesPerClass: 1 })).toThrow(SplitcError);
  });

  it('takes runOverheadMs from whole runs minus node sums (median, never negative)', () => {
    const samples = samplesFor(syntheticNodes(10, 'Conv', 6), conv);
    const runs = [
      { totalMs: 10, nodeSumMs: 9.9 },
      { totalMs: 5, nodeSumMs: 4.7 },
      { totalMs: 2, nodeSumMs: 2.5 },
    ];
    expect(fitLatencyModel(samples, { runs }).runOverheadMs).toBeCloseTo(0.1, 12);
    expect(fitLatencyModel(samples).runOverheadMs).toBe(0);
  });
});

describe('fit report', () => {
  const conv: OpClassCoefficients = { msPerGMac: 4, msPerMB: 0.2, msFixed: 0 };
  const add: OpClassCoefficients = { msPerGMac: 0, msPerMB: 0.05, msFixed: 0 };
  const model = (name: string, seed: number, noise = 0): ProfiledModelData => {
    const r = xorshift32(seed + 100);
    const features = [...syntheticNodes(20, 'Conv', seed, `${name}.conv`), ...syntheticNodes(20, 'Add', seed + 1, `${name}.add`)];
    const nodesMs = Object.fromEntries(features.map((f) => [f.name, exact(f.opType === 'Conv' ? conv : add, f) * (1 + noise * (r() - 0.5))]));
    return { name, features, nodesMs };
  };

  it('has no error on noiseless data, in sample and held out', () => {
    const models = [model('a', 1), model('b', 2), model('c', 3)];
    const lm = fitLatencyModel(models.flatMap((m) => m.features.map((f) => ({ features: f, ms: m.nodesMs[f.name]! }))));
    const report = fitReport(lm, models);
    expect(report.perModel.map((m) => m.model)).toEqual(['a', 'b', 'c']);
    expect(report.overall.segments).toBe(3 * 19); // the whole model, 9 prefixes, 9 suffixes
    expect(report.overall.p90RelErr).toBeLessThan(1e-9);
    const lomo = leaveOneModelOut(models);
    expect(lomo.overall.p90RelErr).toBeLessThan(1e-9);
  });

  it('measures segment errors of a mis-fitted model, and needs two models to hold one out', () => {
    const m = model('a', 1, 0.4);
    const lm = fitLatencyModel(m.features.map((f) => ({ features: f, ms: m.nodesMs[f.name]! })));
    const doubled = { ...lm, slowdown: 2 };
    const errs = segmentRelativeErrors(doubled, m);
    expect(errs).toHaveLength(19);
    expect(median(errs)).toBeGreaterThan(0.5); // twice the fit is ~100 % off
    expect(() => leaveOneModelOut([m])).toThrow(SplitcError);
  });
});

// ---------------------------------------------------------------- onnxruntime on the classifier

describe('nodeFeatures', () => {
  it('lists every compute node (no Constant, no fold of constants) with MACs and bytes', () => {
    const feats = nodeFeatures(loadModel(cls.path), { inputShapes: cls.inputShapes });
    expect(feats.map((f) => f.name)).toEqual(computeNodeNames(cls.path));
    expect(feats.some((f) => f.opType === 'Constant')).toBe(false);
    for (const f of feats) {
      expect(f.bytes).toBeGreaterThan(0);
      if (f.opType === 'Conv') expect(f.macs).toBeGreaterThan(0);
      if (f.opType === 'Add') expect(f.macs).toBe(0);
    }
    // the first Conv reads x [1,3,48,192] float and its 8×3×3×3 weights, writes [1,8,24,96]
    const first = feats.find((f) => f.opType === 'Conv')!;
    expect(first.macs).toBe(8 * 24 * 96 * 3 * 3 * 3);
    expect(first.bytes).toBe(4 * (3 * 48 * 192 + 8 * 3 * 3 * 3 + 8 * 24 * 96));
  });
});
