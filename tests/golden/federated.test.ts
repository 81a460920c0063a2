// Federated goldens: what clients and the coordinator must agree on, as text. The training
// task of the small ResNet (its tensors, feeds, and the sha256 of the graph bytes every client
// runs) and the seeded partitions experiments are reported on (per-client class counts).
// `UPDATE_GOLDEN=1 npx vitest run tests/golden` rewrites them; review the diff.

import { createHash } from 'node:crypto';
import { describe, it } from 'vitest';
import { xorshift32 } from '../../src/ir/random.js';
import { partitionCounts, partitionDirichlet, partitionIid } from '../../src/runtime/federated/partition.js';
import { sphereFedSetup } from '../../src/runtime/federated/spherefed-sim.js';
import { buildTrainingTask, type TrainingTaskOptions } from '../../src/runtime/federated/task.js';
import { renderFedHtml, renderFedServeHtml } from '../../src/cli/fed-html.js';
import type { FedServeHistory } from '../../src/pipeline/fed-serve.js';
import type { FedHistory } from '../../src/pipeline/fed-simulate.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { expectGolden } from '../helpers/golden.js';

function printTask(opts: TrainingTaskOptions, sphereSeed?: number): string {
  const model = smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
  // SphereFed: the task the simulation trains (head rewritten, fixed matrix left out of the params).
  const sphere = sphereSeed === undefined ? null : sphereFedSetup(model, opts, sphereSeed);
  const task = sphere ? buildTrainingTask(sphere.model, sphere.task) : buildTrainingTask(model, opts);
  const lines = [
    `options: ${JSON.stringify(opts)}${sphere ? ` + SphereFed seed ${sphereSeed}: loss ${sphere.task.loss} on '${sphere.scores}', features '${sphere.features}', ${sphere.dim} features → ${sphere.classes} classes` : ''}`,
    `graph: ${task.graph.length} bytes, sha256 ${createHash('sha256').update(task.graph).digest('hex')}`,
    `input: ${task.input.name} [${task.input.shape.join(', ')}]`,
    `target: ${task.target.name} (${task.target.kind}), ${task.classes} classes, batch ${task.batchSize}`,
    `loss: ${task.loss}`,
    'params:',
    ...task.params.map((p) => `  ${p.name} [${p.dims.join(', ')}]`),
    'stats:',
    ...task.stats.map((s) => `  ${s.mean}, ${s.variance} [${s.dims.join(', ')}] -> ${s.meanOut}, ${s.varianceOut}`),
  ];
  return `${lines.join('\n')}\n`;
}

describe('federated goldens', () => {
  it('the training task of the small ResNet (cross-entropy and one-hot MSE)', () => {
    expectGolden('federated/task-small-resnet-ce.txt', printTask({ batchSize: 8 }));
    expectGolden('federated/task-small-resnet-mse-onehot.txt', printTask({ batchSize: 8, loss: 'mse-onehot' }));
  });

  it('the SphereFed training task of the small ResNet (fixed orthonormal head, not trained)', () => {
    expectGolden('federated/task-small-resnet-spherefed.txt', printTask({ batchSize: 8 }, 4));
  });

  it('report.html of a SphereFed run with calibration (a fixed history)', () => {
    const round = (r: number, acc: number, loss: number | null, up: number, phase: 'sphere' | 'calibrated') => ({ round: r, phase, clients: ['client-0', 'client-1'], loss, testAccuracy: acc, bytesUpPerClient: up, bytesDownPerClient: 81_920, seconds: 1.25 * r });
    const history: FedHistory = {
      version: 1,
      config: { model: 'resnet8 (widths 4,16, 28×28×1, 10 classes)', data: 'fashion-mnist', trainSamples: 200, testSamples: 100, classes: 10, clients: 2, partition: { kind: 'dirichlet', alpha: 0.5 }, rounds: 3, localEpochs: 1, batch: 8, lr: 0.05, momentum: 0.9, algorithm: 'spherefed', base: 'fedavg', mu: null, calibration: { lambda: 1e-3, secure: true }, clientsPerRound: 2, seed: 1 },
      clients: [
        { id: 'client-0', samples: 120, classCounts: [30, 0, 20, 10, 0, 20, 10, 10, 10, 10] },
        { id: 'client-1', samples: 80, classCounts: [0, 20, 0, 10, 20, 0, 10, 10, 10, 0] },
      ],
      rounds: [round(1, 0.12, 0.11, 81_920, 'sphere'), round(2, 0.2, 0.095, 81_920, 'sphere'), round(3, 0.31, 0.09, 81_920, 'sphere'), round(4, 0.55, null, 2_392, 'calibrated')],
      finalTestAccuracy: 0.55,
    };
    expectGolden('federated/report-spherefed.html', renderFedHtml(history));
  });

  it("fed serve's report.html of a SphereFed run with --eval-data and calibration (a fixed history)", () => {
    const round = (r: number, acc: number | null, stragglers: string[] = []) => ({
      round: r,
      clients: ['client-0', 'client-1', 'phone-7'].filter((c) => !stragglers.includes(c)),
      stragglers,
      samples: 300 - 40 * stragglers.length,
      loss: 0.1 - 0.01 * r,
      closedBy: stragglers.length ? ('deadline' as const) : ('all-in' as const),
      seconds: r === 1 ? null : 2.5 * r,
      testAccuracy: acc,
    });
    const history: FedServeHistory = {
      version: 1,
      config: { model: 'resnet8 (widths 4,16, 28×28×1, 10 classes)', algorithm: 'spherefed', base: 'fedavg', mu: null, calibration: { lambda: 1e-3, secure: true }, rounds: 3, minClients: 2, clientsPerRound: null, deadlineS: 60, localEpochs: 1, batch: 8, lr: 0.05, momentum: 0.9, seed: 1, weightBytes: 81_920, evaluation: { data: 'fashion-mnist', testSamples: 500 } },
      // round 1 closed before a resume: neither seconds nor an evaluation
      rounds: [round(1, null), round(2, 0.21, ['phone-7']), round(3, 0.34)],
      calibration: { round: 4, attempts: 1, clients: ['client-0', 'client-1', 'phone-7'], stragglers: [], closedBy: 'all-in', samples: 300 },
      finalTestAccuracy: 0.58,
    };
    expectGolden('federated/report-serve-spherefed.html', renderFedServeHtml(history));
  });

  it('seeded partitions of 1,000 labels among 8 clients: per-client class counts', () => {
    const r = xorshift32(2026);
    const labels = Int32Array.from({ length: 1000 }, () => Math.floor(r() * 10));
    const table = (parts: number[][]): string => partitionCounts(parts, labels, 10).map((c, k) => `client ${k}: ${c.map((v) => String(v).padStart(3)).join(' ')}  (${c.reduce((a, b) => a + b, 0)})`).join('\n');
    const text = [
      'IID, seed 1:',
      table(partitionIid(labels, 8, 1)),
      'Dirichlet α = 0.1, seed 1:',
      table(partitionDirichlet(labels, 8, 0.1, 1)),
      'Dirichlet α = 1, seed 1:',
      table(partitionDirichlet(labels, 8, 1, 1)),
    ].join('\n');
    expectGolden('federated/partitions.txt', `${text}\n`);
  });
});
