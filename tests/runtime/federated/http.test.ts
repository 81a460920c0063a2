// The coordinator over HTTP with real Node clients on 127.0.0.1: two clients train two rounds
// and the served weights are FedAvg of what they sent — and equal to simulate() with the same
// seeds; a coordinator stopped after round 1 and resumed from its checkpoint on a new server
// finishes with the same weights, bit for bit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { fedAvg } from '../../../src/runtime/federated/aggregate.js';
import { Coordinator, type CoordinatorOptions } from '../../../src/runtime/federated/coordinator.js';
import { joinFederation, type NodeJoinOptions } from '../../../src/runtime/federated/node-client.js';
import { partitionIid, subset } from '../../../src/runtime/federated/partition.js';
import { simulate } from '../../../src/runtime/federated/simulate.js';
import { buildTrainingTask, initialWeights } from '../../../src/runtime/federated/task.js';
import type { ClientUpdate, LocalOptions, Weights } from '../../../src/runtime/federated/types.js';
import { createInferenceServer, type InferenceServer } from '../../../src/runtime/server.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { toyData } from '../train/toy-data.js';

const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });
const taskOptions = { batchSize: 8 };
const local: LocalOptions = { epochs: 1, lr: 0.05, momentum: 0.9, seed: 7 };
const single = { intraOpNumThreads: 1 };
const token = 'fed-secret';
const options: CoordinatorOptions = { rounds: 2, minClients: 2, deadlineMs: 60_000, local, algorithm: 'fedavg', seed: 1 };
const train = toyData(64, 2);
const parts = partitionIid(train.labels, 2, 1);
const ids = ['client-0', 'client-1'];

const bytesOf = (w: Weights): Buffer => Buffer.concat([...w].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));

const servers: InferenceServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function serve(coordinator: Coordinator): Promise<string> {
  const server = await createInferenceServer({ models: [], token, federated: coordinator });
  servers.push(server);
  return (await server.listen(0)).url;
}

/** Registers the ids in order, so their indices (and batch orders) match simulate's clients. */
async function registerInOrder(url: string): Promise<void> {
  for (const client of ids) {
    const res = await fetch(`${url}/v2/federated/register`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ client }) });
    expect(res.status).toBe(200);
  }
}

function joinAll(url: string, extra: Partial<NodeJoinOptions> = {}, sent?: ClientUpdate[][]) {
  return Promise.all(
    ids.map((client, k) =>
      joinFederation({
        url,
        token,
        ort,
        client,
        data: subset(train, parts[k]!),
        sessionOptions: single,
        pollMs: 10,
        onRound: (r, u) => void (sent ? (sent[r.round] ??= []).push(u) : undefined),
        ...extra,
      }),
    ),
  );
}

describe('federated coordinator over HTTP', () => {
  let uninterrupted: Buffer | undefined;

  it('two Node clients, two rounds: the served weights are FedAvg of the updates sent, and equal simulate()', async () => {
    const coordinator = Coordinator.create(model(), taskOptions, options);
    const url = await serve(coordinator);
    await registerInOrder(url);
    const sent: ClientUpdate[][] = [];
    const results = await joinAll(url, {}, sent);
    expect(results.map((r) => [r.client, r.index, r.rounds.map((x) => x.round), r.info.state])).toEqual([
      ['client-0', 0, [1, 2], 'done'],
      ['client-1', 1, [1, 2], 'done'],
    ]);
    expect(results.every((r) => r.rounds.every((x) => x.accepted))).toBe(true);
    const final = bytesOf(coordinator.globalWeights());
    expect(bytesOf(fedAvg(sent[2]!)).equals(final)).toBe(true);
    for (const r of results) expect(bytesOf(r.weights).equals(final)).toBe(true);
    expect(coordinator.status().history.map((h) => [h.round, h.clients, h.closedBy])).toEqual([
      [1, ids, 'all-in'],
      [2, ids, 'all-in'],
    ]);
    // the same clients, seeds and data in one process: the same bits
    const sim = await simulate({ ort, model: model(), task: taskOptions, train, test: toyData(24, 9), parts, rounds: 2, algorithm: 'fedavg', local, seed: 1, sessionOptions: single });
    expect(bytesOf(initialWeights(sim.model, buildTrainingTask(model(), taskOptions))).equals(final)).toBe(true);
    uninterrupted = final;
  });

  it('restart: stopped after round 1 and resumed from its checkpoint on a new server, it ends with the same weights', async () => {
    expect(uninterrupted).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-fed-http-'));
    dirs.push(dir);
    const first = Coordinator.create(model(), taskOptions, { ...options, checkpointDir: dir });
    const url1 = await serve(first);
    await registerInOrder(url1);
    // each client trains round 1 and leaves; round 2 opens on the coordinator, then it stops
    await joinAll(url1, { maxRounds: 1 });
    expect(first.status()).toMatchObject({ completed: 1, round: 2, submitted: [] });
    await servers.shift()!.close();

    const resumed = await Coordinator.resume(dir, model(), taskOptions, options);
    const url2 = await serve(resumed);
    const results = await joinAll(url2); // the clients rejoin with their ids (and so their indices)
    expect(results.map((r) => r.rounds.map((x) => x.round))).toEqual([[2], [2]]);
    expect(resumed.status().history.map((h) => h.round)).toEqual([1, 2]);
    expect(bytesOf(resumed.globalWeights()).equals(uninterrupted!)).toBe(true);
  });

  it('restart under running clients: they wait for the coordinator, rejoin, resend the update it lost, and the result is the same', async () => {
    expect(uninterrupted).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-fed-live-'));
    dirs.push(dir);
    const first = Coordinator.create(model(), taskOptions, { ...options, checkpointDir: dir });
    const server1 = await createInferenceServer({ models: [], token, federated: first });
    const { url, port } = await server1.listen(0);
    await registerInOrder(url);
    // The order of events is pinned by the test, not the clock: client-1 holds its round-2
    // update until the first coordinator is gone; client-0's round-2 update is accepted by it
    // and lost with it (round 2 was not checkpointed), so client-0 must send it again.
    let stopped = false;
    const failures = [0, 0];
    let held = false;
    const fetchOf = (k: number): typeof fetch => {
      let updates = 0;
      return async (input, init) => {
        if (k === 1 && String(input).endsWith('/update') && ++updates === 2) {
          held = true;
          while (!stopped) await new Promise((r) => setTimeout(r, 2));
        }
        try {
          return await fetch(input, init);
        } catch (e) {
          failures[k]!++;
          throw e;
        }
      };
    };
    const running = Promise.all(
      ids.map((client, k) =>
        joinFederation({ url, token, ort, client, data: subset(train, parts[k]!), sessionOptions: single, pollMs: 10, reconnectMs: 20_000, fetch: fetchOf(k) }),
      ),
    );
    const poll = async (done: () => boolean): Promise<void> => {
      while (!done()) await new Promise((r) => setTimeout(r, 2));
    };
    await poll(() => held && first.status().submitted.includes('client-0'));
    await server1.close();
    stopped = true;
    await poll(() => failures.every((n) => n > 0)); // both clients are now waiting for a coordinator
    const resumed = await Coordinator.resume(dir, model(), taskOptions, options);
    const server2 = await createInferenceServer({ models: [], token, federated: resumed });
    servers.push(server2);
    await server2.listen(port);
    const results = await running;
    expect(results.map((r) => [r.info.state, r.rounds.map((x) => [x.round, x.accepted])])).toEqual([
      ['done', [[1, true], [2, true]]],
      ['done', [[1, true], [2, true]]],
    ]);
    // client-0 sent its round-2 update twice (to each coordinator), client-1 once
    expect(results.map((r) => r.rounds[1]!.bytesUp / r.rounds[0]!.bytesUp)).toEqual([2, 1]);
    expect(resumed.status().history.map((h) => h.round)).toEqual([1, 2]);
    expect(bytesOf(resumed.globalWeights()).equals(uninterrupted!)).toBe(true);
  });

  it('deadline: a round closes with minClients at its deadline; the straggler’s late update gets E_FED_ROUND and it goes on', async () => {
    const coordinator = Coordinator.create(model(), taskOptions, { ...options, deadlineMs: 50 });
    const url = await serve(coordinator);
    const sent: ClientUpdate[][] = [];
    const clients = ['fast-0', 'fast-1', 'slow'];
    // the straggler's uploads leave only once the round they are for has closed: no race with the clock
    const slowFetch: typeof fetch = async (input, init) => {
      if (String(input).endsWith('/update')) {
        const round = coordinator.roundInfo().round;
        while (coordinator.status().completed < round) await new Promise((r) => setTimeout(r, 5));
      }
      return fetch(input, init);
    };
    const three = toyData(96, 4);
    const thirds = partitionIid(three.labels, 3, 2);
    // all three registered before the first round opens, so all three are chosen
    for (const client of clients) coordinator.register(client);
    const results = await Promise.all(
      clients.map((client, k) =>
        joinFederation({
          url,
          token,
          ort,
          client,
          data: subset(three, thirds[k]!),
          sessionOptions: single,
          pollMs: 5,
          onRound: (r, u) => void (r.accepted ? (sent[r.round] ??= []).push(u) : undefined),
          ...(client === 'slow' ? { fetch: slowFetch } : {}),
        }),
      ),
    );
    // round 1's late update is refused; round 2 may close before the straggler even trains it
    // (a loaded machine), so its record is optional, and never accepted
    const slowRounds = results[2]!.rounds.map((r) => [r.round, r.accepted]);
    expect(slowRounds[0]).toEqual([1, false]);
    expect(slowRounds.slice(1)).toEqual(slowRounds.length > 1 ? [[2, false]] : []);
    expect(coordinator.status().history.map((h) => [h.clients, h.stragglers, h.closedBy])).toEqual([
      [['fast-0', 'fast-1'], ['slow'], 'deadline'],
      [['fast-0', 'fast-1'], ['slow'], 'deadline'],
    ]);
    expect(bytesOf(coordinator.globalWeights()).equals(bytesOf(fedAvg(sent[2]!)))).toBe(true);
  });
});
