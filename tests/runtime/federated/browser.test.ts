// A federated client in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
// the page loads onnxruntime-web through an import map and splitc's compiled client closure
// (codegen/runtime-files.ts copyRuntimeModules), builds its seeded data itself, and joins a
// coordinator on another origin (the server answers CORS for the page's origin) alongside a
// Node client in the same round. The round's new weights are FedAvg of the two updates, and the
// page's update is what onnxruntime-node computes from the same data, seed and client index.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fedAvg } from '../../../src/runtime/federated/aggregate.js';
import { Coordinator } from '../../../src/runtime/federated/coordinator.js';
import { LocalTrainer } from '../../../src/runtime/federated/local.js';
import { joinFederation } from '../../../src/runtime/federated/node-client.js';
import type { ClientUpdate, Weights } from '../../../src/runtime/federated/types.js';
import { createInferenceServer, type InferenceServer } from '../../../src/runtime/server.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { chromiumPath, watchedPage } from '../../helpers/chromium.js';
import { federatedClientPage, useFederatedPage } from './browser-page.js';
import { toyData } from '../train/toy-data.js';

const executablePath = chromiumPath();
const TOKEN = 'fed-browser-secret';
/** Each client's data: toyData(SAMPLES, seed), built in the page for the browser client (federatedClientPage). */
const SAMPLES = 48;
const BROWSER = { client: 'browser-0', seed: 11 };
const NODE = { client: 'node-1', seed: 12 };

const PAGE = federatedClientPage(
  'splitc federated client',
  `    const sent = [];
    const result = await runFederatedClient({
      url, token, ort, client, data: toyData(n, seed), pollMs: 20,
      onRound: (record, u) => void sent.push({ record, samples: u.samples, loss: u.loss, weights: Object.fromEntries([...u.weights].map(([k, v]) => [k, Array.from(v)])) }),
    });
    return { client: result.client, index: result.index, state: result.info.state, sent };`,
);

interface PageResult {
  client: string;
  index: number;
  state: string;
  sent: { record: { round: number; accepted: boolean; closed: boolean }; samples: number; loss: number; weights: Record<string, number[]> }[];
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe.skipIf(!executablePath)(`federated client in headless Chromium${executablePath ? '' : ' (skipped: Debian chromium is not installed; apt-get install chromium)'}`, () => {
  const page = useFederatedPage(PAGE, executablePath!);

  it('a page with onnxruntime-web and a Node client train round 1 together; the new weights are FedAvg of both updates', async () => {
    const coordinator = Coordinator.create(smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 }), { batchSize: 8 }, {
      rounds: 1,
      minClients: 2,
      deadlineMs: 60_000,
      local: { epochs: 1, lr: 0.05, momentum: 0.9, seed: 7 },
      algorithm: 'fedavg',
      seed: 1,
    });
    const initial: Weights = coordinator.globalWeights(); // replaced, never mutated, when the round closes
    // registered in this order, so the browser client's index (and batch order) is known
    coordinator.register(BROWSER.client);
    coordinator.register(NODE.client);
    let server: InferenceServer | undefined;
    const { tab, errors, requests } = await watchedPage(page.browser, { width: 800, height: 600 });
    try {
      server = await createInferenceServer({ models: [], token: TOKEN, corsOrigin: page.origin, federated: coordinator });
      const { url } = await server.listen(0);
      await tab.goto(page.origin + '/');
      await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
      const sentByNode: ClientUpdate[] = [];
      const [fromPage, fromNode] = await Promise.all([
        tab.evaluate(
          async ([u, token, client, n, seed]) => (globalThis as unknown as { join: (...a: unknown[]) => Promise<PageResult> }).join(u, token, client, n, seed),
          [url, TOKEN, BROWSER.client, SAMPLES, BROWSER.seed] as const,
        ),
        joinFederation({ url, token: TOKEN, ort, client: NODE.client, data: toyData(SAMPLES, NODE.seed), sessionOptions: { intraOpNumThreads: 1 }, pollMs: 20, onRound: (_r, u) => void sentByNode.push(u) }),
      ]);
      expect(errors).toEqual([]);
      // the page itself talked to the coordinator, across origins (CORS answered for the page's origin)
      expect(new URL(url).origin).not.toBe(page.origin);
      for (const route of ['register', 'task', 'round', 'update']) expect(requests, route).toContain(`${url}/v2/federated/${route}`);
      expect([fromPage.client, fromPage.index, fromPage.state]).toEqual([BROWSER.client, 0, 'done']);
      expect(fromPage.sent.map((s) => [s.record.round, s.record.accepted])).toEqual([[1, true]]);
      expect(fromNode.rounds.map((r) => [r.round, r.accepted])).toEqual([[1, true]]);
      expect(coordinator.status()).toMatchObject({ state: 'done', completed: 1 });
      expect(coordinator.status().history.map((h) => [h.round, h.clients, h.stragglers, h.samples])).toEqual([[1, [BROWSER.client, NODE.client].sort(), [], 2 * SAMPLES]]);

      // the coordinator averaged exactly what the page sent and what the Node client sent
      const sent = fromPage.sent[0]!;
      const browserUpdate: ClientUpdate = { client: BROWSER.client, round: 1, samples: sent.samples, loss: sent.loss, weights: new Map(Object.entries(sent.weights).map(([k, v]) => [k, Float32Array.from(v)])) };
      const expected = fedAvg([browserUpdate, sentByNode[0]!]);
      const global = coordinator.globalWeights();
      expect([...global.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [name, w] of expected) expect(Buffer.from(global.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
      // and the page trained: onnxruntime-node on the same data, seed and index gives its update (web and node kernels differ in the last bits)
      const trainer = await LocalTrainer.create(ort, coordinator.task, { intraOpNumThreads: 1 });
      let reference: ClientUpdate;
      try {
        reference = await trainer.train(initial, toyData(SAMPLES, BROWSER.seed), coordinator.roundInfo().local, { client: BROWSER.client, round: 1, index: 0 });
      } finally {
        await trainer.release();
      }
      expect(browserUpdate.samples).toBe(reference.samples);
      expect(Math.abs(browserUpdate.loss - reference.loss)).toBeLessThan(1e-4);
      for (const [name, w] of reference.weights) {
        expect(maxAbsDiff(browserUpdate.weights.get(name)!, w), name).toBeLessThan(1e-4);
        expect(maxAbsDiff(w, initial.get(name)!), `${name} moved`).toBeGreaterThan(0);
      }
    } finally {
      await tab.close();
      await server?.close();
    }
  }, 25_000);
});
