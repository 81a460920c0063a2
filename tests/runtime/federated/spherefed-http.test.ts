// SphereFed over HTTP: three Node clients train two rounds on the fixed head, then the
// coordinator's calibration phase: the W it solves equals the W of the pooled statistics of
// the clients' data on the final weights (plain and secure alike), a secure coordinator holds
// only masked bytes, and a client missing past the deadline is left out (plain) or the phase
// is redone with the clients left (secure); a restart keeps the trained weights and begins the
// phase again; uploads out of the phase get codes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { featureStats, packedLength, solveCalibration } from '../../../src/runtime/federated/calibration.js';
import { Coordinator, type CoordinatorOptions } from '../../../src/runtime/federated/coordinator.js';
import { joinFederation, type NodeJoinOptions } from '../../../src/runtime/federated/node-client.js';
import { partitionIid, subset } from '../../../src/runtime/federated/partition.js';
import { sphereFedSetup } from '../../../src/runtime/federated/spherefed-sim.js';
import { applyWeights } from '../../../src/runtime/federated/task.js';
import type { ClientData, LocalOptions } from '../../../src/runtime/federated/types.js';
import { decodeUnmasked } from '../../../src/runtime/federated/secure-agg.js';
import { encodeCalibration } from '../../../src/runtime/federated/wire.js';
import { createInferenceServer, type InferenceServer } from '../../../src/runtime/server.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { codeOf } from '../../helpers/codes.js';
import { toyData } from '../train/toy-data.js';

const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const taskOptions = { batchSize: 8 };
const local: LocalOptions = { epochs: 1, lr: 0.1, momentum: 0.9, seed: 7 };
const token = 'sphere-secret';
const sphereSeed = 4;
const lambda = 1e-3;
const train = toyData(72, 2);
const parts = partitionIid(train.labels, 3, 1);
const ids = ['client-0', 'client-1', 'client-2'];
const data = parts.map((p) => subset(train, p));

const servers: InferenceServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A coordinator on its own server, with a clock the test can move forward. */
async function serve(secure: boolean, checkpointDir?: string): Promise<{ coordinator: Coordinator; url: string; clock: { offsetMs: number }; options: CoordinatorOptions }> {
  const clock = { offsetMs: 0 };
  const options: CoordinatorOptions = {
    ...(checkpointDir !== undefined ? { checkpointDir } : {}),
    rounds: 2,
    minClients: 2,
    deadlineMs: 60_000,
    local,
    algorithm: 'fedavg',
    seed: 1,
    now: () => Date.now() + clock.offsetMs,
    sphereFed: { seed: sphereSeed, calibrate: { lambda, secure } },
  };
  const coordinator = Coordinator.create(model(), taskOptions, options);
  const server = await createInferenceServer({ models: [], token, federated: coordinator });
  servers.push(server);
  return { coordinator, url: (await server.listen(0)).url, clock, options };
}

/** Registers the ids in order (their indices, hence batch orders, are fixed), then joins them all. */
async function joinAll(url: string, extra: (k: number) => Partial<NodeJoinOptions> = () => ({})) {
  for (const client of ids) {
    const res = await fetch(`${url}/v2/federated/register`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ client }) });
    expect(res.status).toBe(200);
  }
  return ids.map((client, k) => joinFederation({ url, token, ort, client, data: data[k]!, sessionOptions: { intraOpNumThreads: 1 }, pollMs: 10, ...extra(k) }));
}

/** W solved from the statistics of `clients`' data on the sphere model with the coordinator's final weights, computed here. */
async function pooledW(coordinator: Coordinator, clients: ClientData[]): Promise<Float32Array> {
  const setup = sphereFedSetup(model(), taskOptions, sphereSeed);
  const bytes = modelToBytes(applyWeights(setup.model, coordinator.globalWeights()));
  let V: Float64Array | undefined;
  let U: Float64Array | undefined;
  for (const d of clients) {
    const s = await featureStats(ort, bytes, setup.features, d, 64, setup.classes);
    V = V ? V.map((v, i) => v + s.V[i]!) : s.V;
    U = U ? U.map((u, i) => u + s.U[i]!) : s.U;
  }
  return solveCalibration(V!, U!, setup.dim, setup.classes, lambda);
}

function expectClose(got: Float32Array | null, want: Float32Array, rel: number): void {
  expect(got?.length).toBe(want.length);
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got![i]! - want[i]!)).toBeLessThanOrEqual(rel * scale);
}

/** Resolves once `check` holds of the coordinator's round info. */
async function until(coordinator: Coordinator, check: (info: ReturnType<Coordinator['roundInfo']>) => boolean): Promise<void> {
  for (let k = 0; k < 2000 && !check(coordinator.roundInfo()); k++) await new Promise((r) => setTimeout(r, 5));
}

describe('SphereFed over HTTP: the calibration phase', () => {
  let plainW: Float32Array | undefined;

  it('plain: three clients, two rounds, then W equals the pooled W of their data on the final weights', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-spherefed-'));
    const { coordinator, url, options } = await serve(false, dir);
    const results = await Promise.all(await joinAll(url));
    expect(results.map((r) => [r.info.state, r.rounds.length, r.calibrations.map((c) => [c.round, c.secure, c.accepted])])).toEqual(ids.map(() => ['done', 2, [[3, false, true]]]));
    const status = coordinator.status();
    expect(status.state).toBe('done');
    expect(status.calibration).toMatchObject({ round: 3, attempts: 1, clients: ids, stragglers: [], closedBy: 'all-in', samples: 72 });
    plainW = coordinator.calibratedW()!;
    expectClose(plainW, await pooledW(coordinator, data), 1e-5);
    // the final model is the calibrated inference model, named as the original's output
    expect(coordinator.globalModel().graph.outputs.map((o) => o.name)).toEqual(['logits']);
    // uploads after the phase, and before it on a new coordinator, are refused
    const stats = new Float64Array(packedLength(8, 3));
    expect(codeOf(() => coordinator.submitCalibration('client-0', 3, stats))).toBe('E_FED_ROUND');
    const res = await fetch(`${url}/v2/federated/calibration`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(409);
    const early = await serve(false);
    early.coordinator.register('client-0');
    expect(codeOf(() => early.coordinator.submitCalibration('client-0', 3, stats))).toBe('E_FED_ROUND');
    expect(codeOf(() => early.coordinator.submitCalibration('nobody', 3, stats))).toBe('E_FED_ROUND');
    // a restart: the trained weights come back from the checkpoint, the phase begins again
    const resumed = await Coordinator.resume(dir, model(), taskOptions, options); // resume sets checkpointDir to dir itself
    expect(resumed.roundInfo()).toMatchObject({ state: 'calibrating', round: 3, completed: 2, submitted: [] });
    for (const [name, w] of coordinator.globalWeights()) expect(Buffer.from(resumed.globalWeights().get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 15_000);

  it('secure: the same W to float tolerance; the coordinator holds only masked bytes', async () => {
    const { coordinator, url } = await serve(true);
    const results = await Promise.all(await joinAll(url));
    expect(results.map((r) => r.calibrations.map((c) => [c.round, c.secure, c.accepted]))).toEqual(ids.map(() => [[3, true, true]]));
    expect(coordinator.status().calibration).toMatchObject({ round: 3, attempts: 1, clients: ids, closedBy: 'all-in', samples: 72 });
    const w = coordinator.calibratedW()!;
    expectClose(w, await pooledW(coordinator, data), 1e-5);
    if (plainW) expectClose(w, plainW, 1e-5);
    // what the coordinator stored per client: secure-agg's masked words, not the float64 statistics
    const stored = coordinator.calibrationStats(3);
    expect([...stored.keys()].sort()).toEqual(ids);
    const n = packedLength(8, 3);
    for (const upload of stored.values()) {
      expect(upload).toBeInstanceOf(Uint8Array);
      expect(upload.byteLength).toBe(8 + 8 * (n + 1));
      // unmasked, its last value would be the client's sample count (24): masked, it is noise
      expect(decodeUnmasked(upload as Uint8Array).at(-1)).not.toBe(24);
    }
  }, 15_000);

  it('a client missing past the deadline: plain solves with those in; secure redoes the phase with the clients left', async () => {
    for (const secure of [false, true]) {
      const { coordinator, url, clock } = await serve(secure);
      // client-2 trains both rounds, then its calls to the calibration route fail: it is gone
      const gone: typeof fetch = async (input, init) => {
        if (String(input).endsWith('/calibration')) throw new Error('unplugged');
        return fetch(input, init);
      };
      const joins = await joinAll(url, (k) => (k === 2 ? { fetch: gone, reconnectMs: 0 } : {}));
      await expect(joins[2]).rejects.toMatchObject({ code: 'E_NETWORK' });
      await until(coordinator, (i) => i.state === 'calibrating' && i.submitted.length === 2);
      expect(coordinator.roundInfo()).toMatchObject({ state: 'calibrating', round: 3, participants: ids, submitted: ['client-0', 'client-1'] });
      clock.offsetMs += 60_001;
      const results = await Promise.all(joins.slice(0, 2));
      const status = coordinator.status();
      expect(status.state).toBe('done');
      if (secure) {
        // attempt 2 (round 4) with the two clients left: fresh masks, all in
        expect(status.calibration).toMatchObject({ round: 4, attempts: 2, clients: ['client-0', 'client-1'], stragglers: [], closedBy: 'all-in' });
        expect(results.map((r) => r.calibrations.map((c) => [c.round, c.accepted]))).toEqual([[[3, true], [4, true]], [[3, true], [4, true]]]);
      } else {
        expect(status.calibration).toMatchObject({ round: 3, attempts: 1, clients: ['client-0', 'client-1'], stragglers: ['client-2'], closedBy: 'deadline' });
      }
      expectClose(coordinator.calibratedW(), await pooledW(coordinator, data.slice(0, 2)), 1e-5);
    }
  }, 15_000);

  it('an upload while the rounds still train is refused with E_FED_ROUND (409)', async () => {
    const { coordinator, url } = await serve(false);
    coordinator.register('a');
    const body = encodeCalibration('a', 3, new Float64Array(packedLength(8, 3)));
    const res = await fetch(`${url}/v2/federated/calibration`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': body.contentType, 'Inference-Header-Content-Length': String(body.jsonLength) },
      body: new Blob(body.chunks as Uint8Array<ArrayBuffer>[]),
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('E_FED_ROUND');
  });
});
