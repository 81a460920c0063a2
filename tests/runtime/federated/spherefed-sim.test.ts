// SphereFed in the simulation: rounds on the fixed orthonormal head learn (the MSE loss falls),
// the calibration's W is the pooled ridge least-squares W (statistics of all clients' data
// solved at once), and summing the statistics through secure aggregation gives the same W.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { featureStats, solveCalibration } from '../../../src/runtime/federated/calibration.js';
import { partitionIid } from '../../../src/runtime/federated/partition.js';
import { simulate, type SimulateOptions } from '../../../src/runtime/federated/simulate.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { codeOfAsync } from '../../helpers/codes.js';
import { toyData } from '../train/toy-data.js';

const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const train = toyData(96, 2);
const test = toyData(48, 9);
const base: SimulateOptions = {
  ort,
  model: model(),
  task: { batchSize: 8 },
  train,
  test,
  parts: partitionIid(train.labels, 3, 1),
  rounds: 3,
  algorithm: 'spherefed',
  sphereFed: { seed: 4, calibrate: { lambda: 1e-3 } },
  local: { epochs: 1, lr: 0.1, momentum: 0.9, seed: 7 },
  seed: 1,
  sessionOptions: { intraOpNumThreads: 1 },
};

describe('simulate with SphereFed', () => {
  it('trains on the fixed head, then calibrates to the pooled least-squares W; secure and plain sums agree', async () => {
    const plain = await simulate(base);
    const sphereRounds = plain.history.filter((h) => h.phase === 'sphere');
    expect(sphereRounds.map((h) => h.round)).toEqual([1, 2, 3]);
    expect(sphereRounds[2]!.loss).toBeLessThan(sphereRounds[0]!.loss);
    const last = plain.history[3]!;
    expect(last).toMatchObject({ round: 4, phase: 'calibrated', clients: ['client-0', 'client-1', 'client-2'] });
    expect(Number.isNaN(last.loss)).toBe(true);
    expect(last.testAccuracy).toBeGreaterThan(0.5); // three classes: chance is 1/3
    // The final model is the calibrated inference model: one output, named as the original's.
    expect(plain.model.graph.outputs.map((o) => o.name)).toEqual(['logits']);

    // Pooled: every client's samples at once through the same trained sphere model.
    const sphere = plain.sphere!;
    const pooled = await featureStats(ort, modelToBytes(sphere.model), sphere.features, train, 40, 3);
    const w = solveCalibration(pooled.V, pooled.U, pooled.dim, 3, 1e-3);
    const got = sphere.calibration!.w;
    expect(got.length).toBe(w.length);
    const scale = Math.max(...w.map(Math.abs));
    for (let i = 0; i < w.length; i++) expect(Math.abs(got[i]! - w[i]!)).toBeLessThan(1e-4 * scale);

    const secure = await simulate({ ...base, sphereFed: { seed: 4, calibrate: { lambda: 1e-3, secure: true } } });
    const ws = secure.sphere!.calibration!.w;
    for (let i = 0; i < w.length; i++) expect(Math.abs(ws[i]! - got[i]!)).toBeLessThan(1e-5 * scale);
    expect(secure.history[3]!.bytesUp).toBeGreaterThan(plain.history[3]!.bytesUp); // the masked words and header
    expect(secure.history[3]!.testAccuracy).toBe(last.testAccuracy);
  }, 30_000);

  it('without calibration keeps the fixed head; rejects bad options', async () => {
    const r = await simulate({ ...base, rounds: 1, base: 'fedprox', mu: 0.01, sphereFed: { seed: 4 } });
    expect(r.history).toHaveLength(1);
    expect(r.history[0]!.phase).toBe('sphere');
    expect(r.model.graph.outputs).toHaveLength(2); // scores and features
    expect(await codeOfAsync(simulate({ ...base, sphereFed: { seed: 4, calibrate: { lambda: -1 } } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(simulate({ ...base, parts: [[...Array(96).keys()]], sphereFed: { seed: 4, calibrate: { lambda: 1e-3, secure: true } } }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(simulate({ ...base, algorithm: 'fedavg' }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOfAsync(simulate({ ...base, model: smallResNet({ widths: [2], classes: 3, size: 8 }) }))).toBe('E_SPHEREFED');
  }, 30_000);
});
