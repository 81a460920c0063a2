// The federated protocol's bodies as text (docs/serving.md, "Federated coordinator: protocol"):
// the task, a round and an update of the small ResNet (and SphereFed's calibration phase), each as its KServe v2 JSON header and
// binary parts (name, size, sha256), so any change to what clients and coordinator exchange
// shows as a diff. `UPDATE_GOLDEN=1 npx vitest run tests/golden` rewrites them; review the diff.

import { createHash } from 'node:crypto';
import { describe, it } from 'vitest';
import { Coordinator, type CoordinatorOptions } from '../../src/runtime/federated/coordinator.js';
import { encodeCalibration, encodeCalibrationInfo, encodeRound, encodeTask, encodeUpdate } from '../../src/runtime/federated/wire.js';
import type { EncodedBody } from '../../src/runtime/kserve.js';
import { smallResNet } from '../../src/runtime/train/models.js';
import { expectGolden } from '../helpers/golden.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The body's header, then each binary part: a JSON text carried as BYTES in full, tensors by size and sha256 (or all weights as one, `weightsAsOne`). */
function printBody(title: string, body: EncodedBody, weightsAsOne = false): string[] {
  const [json, ...binaries] = body.chunks;
  const header = new TextDecoder().decode(json);
  const parsed = JSON.parse(header) as { inputs?: { name: string; datatype: string }[]; outputs?: { name: string; datatype: string }[] };
  const tensors = parsed.inputs ?? parsed.outputs ?? [];
  const lines = [`${title}: ${body.byteLength} bytes, ${body.contentType}, Inference-Header-Content-Length ${body.jsonLength ?? '(none)'}`, `  header: ${header}`];
  const weights: Uint8Array[] = [];
  binaries.forEach((b, i) => {
    const t = tensors[i]!;
    if (t.datatype === 'BYTES') lines.push(`  ${t.name} (BYTES, one element): ${new TextDecoder().decode(b.subarray(4))}`);
    else if (weightsAsOne && t.datatype === 'FP32') weights.push(b);
    else lines.push(`  ${t.name}: ${b.length} bytes, sha256 ${sha(b)}`);
  });
  if (weights.length) lines.push(`  ${weights.length} FP32 weights: ${weights.reduce((a, b) => a + b.length, 0)} bytes, sha256 of their concatenation ${sha(Buffer.concat(weights))}`);
  return lines;
}

/** The small ResNet's coordinator on a fixed clock (the bodies carry deadlines). */
const coordinatorOf = (o: Pick<CoordinatorOptions, 'rounds' | 'minClients' | 'sphereFed'>): Coordinator =>
  Coordinator.create(smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 }), { batchSize: 8 }, {
    deadlineMs: 1000,
    local: { epochs: 1, lr: 0.05, seed: 7 },
    algorithm: 'fedavg',
    seed: 1,
    now: () => 1_700_000_000_000,
    ...o,
  });

describe('federated protocol goldens', () => {
  it('task, round, update and calibration bodies of the small ResNet', () => {
    const coordinator = coordinatorOf({ rounds: 2, minClients: 1 });
    coordinator.register('a');
    const task = coordinator.task;
    const global = coordinator.globalWeights();
    const lines = [
      ...printBody('task', encodeTask(task)),
      ...printBody('round', encodeRound(task, coordinator.roundInfo(), global)),
      ...printBody('update', encodeUpdate(task, { client: 'a', round: 1, samples: 16, loss: 0.5, weights: global }), true),
      ...printBody('calibration', encodeCalibration('a', 2, new Float64Array([1, 2, 3]))),
    ];
    expectGolden('federated/protocol-small-resnet.txt', `${lines.join('\n')}\n`);
  });

  it("SphereFed's calibration phase: the phase's answer (secure, relayed keys), a round in it, and a masked upload", async () => {
    const coordinator = coordinatorOf({ rounds: 1, minClients: 2, sphereFed: { seed: 4, calibrate: { lambda: 1e-3, secure: true } } });
    // fixed stand-ins for the clients' ECDH public keys (the coordinator only checks their form)
    const key = (b: number): Uint8Array => Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (b + i) & 0xff));
    coordinator.register('a', key(1));
    coordinator.register('b', key(2));
    const global = coordinator.globalWeights();
    for (const client of ['a', 'b']) await coordinator.submit({ client, round: 1, samples: 16, loss: 0.5, weights: global });
    const { info, model } = coordinator.calibrationInfo();
    const lines = [
      ...printBody('calibration phase', encodeCalibrationInfo(info, model)),
      ...printBody('round (calibrating)', encodeRound(coordinator.task, coordinator.roundInfo(), coordinator.globalWeights()), true),
      ...printBody('masked calibration', encodeCalibration('a', info.round, Uint8Array.from({ length: 16 }, (_, i) => i))),
    ];
    expectGolden('federated/protocol-spherefed-calibration.txt', `${lines.join('\n')}\n`);
  });
});
