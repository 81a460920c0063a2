// Federated goldens: what clients and the coordinator must agree on, as text. The training
// task of the small ResNet (its tensors, feeds, and the sha256 of the graph bytes every client
// runs) and the seeded partitions experiments are reported on (per-client class counts).
// `UPDATE_GOLDEN=1 npx vitest run tests/golden` rewrites them; review the diff.

import { createHash } from 'node:crypto';
import { describe, it } from 'vitest';
import { xorshift32 } from '../../src/ir/random.js';
import { partitionCounts, partitionDirichlet, partitionIid } from '../../src/runtime/federated/partition.js';
import { buildTrainingTask, type TrainingTaskOptions } from '../../src/runtime/federated/task.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { expectGolden } from '../helpers/golden.js';

function printTask(opts: TrainingTaskOptions): string {
  const task = buildTrainingTask(smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 }), opts);
  const lines = [
    `options: ${JSON.stringify(opts)}`,
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
