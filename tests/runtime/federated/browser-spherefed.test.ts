// SphereFed's secure calibration phase with a client in headless Chromium (onnxruntime-web,
// WebCrypto masks) and one in Node: one round on the fixed head, then both upload masked
// statistics and the coordinator's W is the pooled W of their data on the final weights
// (computed here with onnxruntime-node; web and node kernels differ in the last bits).
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { modelToBytes } from '../../../src/ir/serde/io.js';
import { addStats, featureStats, solveCalibration } from '../../../src/runtime/federated/calibration.js';
import { Coordinator } from '../../../src/runtime/federated/coordinator.js';
import { joinFederation } from '../../../src/runtime/federated/node-client.js';
import { sphereFedSetup } from '../../../src/runtime/federated/spherefed-sim.js';
import { applyWeights } from '../../../src/runtime/federated/task.js';
import { createInferenceServer, type InferenceServer } from '../../../src/runtime/server.js';
import { smallResNet } from '../../../src/runtime/train/models.js';
import { chromiumPath, watchedPage } from '../../helpers/chromium.js';
import { federatedClientPage, useFederatedPage } from './browser-page.js';
import { toyData } from '../train/toy-data.js';

const executablePath = chromiumPath();
const TOKEN = 'fed-sphere-browser';
const SAMPLES = 48;
const BROWSER = { client: 'browser-0', seed: 11 };
const NODE = { client: 'node-1', seed: 12 };
const model = () => smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 });

const PAGE = federatedClientPage(
  'splitc SphereFed client',
  `    const result = await runFederatedClient({ url, token, ort, client, data: toyData(n, seed), pollMs: 20 });
    return { state: result.info.state, calibrations: result.calibrations };`,
);

describe.skipIf(!executablePath)(`SphereFed calibration with a client in headless Chromium${executablePath ? '' : ' (skipped: Debian chromium is not installed)'}`, () => {
  const page = useFederatedPage(PAGE, executablePath!);

  it('a page and a Node client upload masked statistics; W is the pooled W of their data', async () => {
    const taskOptions = { batchSize: 8 };
    const coordinator = Coordinator.create(model(), taskOptions, {
      rounds: 1,
      minClients: 2,
      deadlineMs: 60_000,
      local: { epochs: 1, lr: 0.1, momentum: 0.9, seed: 7 },
      algorithm: 'fedavg',
      seed: 1,
      sphereFed: { seed: 4, calibrate: { lambda: 1e-3, secure: true } },
    });
    let server: InferenceServer | undefined;
    const { tab, errors, requests } = await watchedPage(page.browser, { width: 800, height: 600 });
    try {
      server = await createInferenceServer({ models: [], token: TOKEN, corsOrigin: page.origin, federated: coordinator });
      const { url } = await server.listen(0);
      await tab.goto(page.origin + '/');
      await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
      const [fromPage, fromNode] = await Promise.all([
        tab.evaluate(
          async ([u, token, client, n, seed]) => (globalThis as unknown as { join: (...a: unknown[]) => Promise<{ state: string; calibrations: { round: number; secure: boolean; accepted: boolean }[] }> }).join(u, token, client, n, seed),
          [url, TOKEN, BROWSER.client, SAMPLES, BROWSER.seed] as const,
        ),
        joinFederation({ url, token: TOKEN, ort, client: NODE.client, data: toyData(SAMPLES, NODE.seed), sessionOptions: { intraOpNumThreads: 1 }, pollMs: 20 }),
      ]);
      expect(errors).toEqual([]);
      expect(requests).toContain(`${url}/v2/federated/calibration`);
      expect([fromPage.state, fromPage.calibrations.map((c) => [c.round, c.secure, c.accepted])]).toEqual(['done', [[2, true, true]]]);
      expect(fromNode.calibrations.map((c) => [c.round, c.secure, c.accepted])).toEqual([[2, true, true]]);
      expect(coordinator.status().calibration).toMatchObject({ round: 2, clients: [BROWSER.client, NODE.client].sort(), closedBy: 'all-in', samples: 2 * SAMPLES });
      for (const upload of coordinator.calibrationStats(2).values()) expect(upload).toBeInstanceOf(Uint8Array);

      const setup = sphereFedSetup(model(), taskOptions, 4);
      const bytes = modelToBytes(applyWeights(setup.model, coordinator.globalWeights()));
      const stats = await Promise.all([BROWSER.seed, NODE.seed].map((seed) => featureStats(ort, bytes, setup.features, toyData(SAMPLES, seed), 64, 3)));
      const sum = addStats(stats[0]!, stats[1]!);
      const want = solveCalibration(sum.V, sum.U, setup.dim, 3, 1e-3);
      const got = coordinator.calibratedW()!;
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4 * scale);
    } finally {
      await tab.close();
      await server?.close();
    }
  }, 25_000);
});
