// The edge bundle in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
// a page served from 127.0.0.1 maps `onnxruntime-web` with an import map to the package's
// dist files, imports the generated edge/index.js, and calls the generated cloud server on
// another origin (it answers CORS preflights for the page's origin). The answer must match
// the original model in onnxruntime-node. A bundle with a trained learned=4+int4 stage must
// match its own edge then cloud models in onnxruntime-node (the trained model, lossy on purpose).

import { chromiumPath, launchChromium, ORT_WEB_DIST, startPageServer } from '../helpers/chromium.js';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { runSplit } from '../../src/pipeline/split.js';
import { fashionSet, PER } from '../audit/fashion.js';
import { fixtures, fixturesDir } from '../helpers/fixtures.js';
import { npy as npyBytes } from '../helpers/npy.js';
import { runOrt, seededFloatInputs } from '../helpers/onnx-oracle.js';
import { buildFixtureBundle, compareFloat, firstResizeCut, middleCut, projectDir, startCloud, type CloudServer } from './helpers.js';

const executablePath = chromiumPath();
const TOKEN = 'browser-secret-token';
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>splitc edge bundle</title>
<script type="importmap">{ "imports": { "onnxruntime-web": "/ort/ort.bundle.min.mjs" } }</script>
</head><body>
<script type="module">
  // Runs the bundle at /bundle/<name>/edge/ against the cloud endpoint; returns plain arrays.
  window.runEdge = async (name, endpoint, token, inputs) => {
    const { createEdge } = await import('/bundle/' + name + '/edge/index.js');
    const edge = await createEdge({ endpoint, token });
    const given = {};
    for (const [k, t] of Object.entries(inputs)) given[k] = { dims: t.dims, data: Float32Array.from(t.data) };
    const { outputs, timings } = await edge.inferWithTimings(given);
    await edge.release();
    const result = {};
    for (const [k, t] of Object.entries(outputs)) result[k] = { dtype: t.dtype, dims: [...t.dims], data: Array.from(t.data) };
    return { result, timings, crossOriginIsolated: self.crossOriginIsolated };
  };
  window.ready = true;
</script></body></html>`;

const fx = fixtures();
const det = fx.find((f) => f.file.includes('det'))!;
const cases = [
  { name: 'cls', fx: fx[0]!, cut: middleCut },
  { name: 'det5', fx: det, cut: firstResizeCut },
];

describe.skipIf(!executablePath)(`edge bundle in headless Chromium${executablePath ? '' : ' (skipped: Debian chromium is not installed; apt-get install chromium)'}`, () => {
  let browser: Browser;
  let page: { server: http.Server; origin: string };
  const clouds = new Map<string, CloudServer>();
  let bundles: string;

  beforeAll(async () => {
    const root = projectDir();
    bundles = path.join(root, 'bundles');
    fs.mkdirSync(bundles);
    const tokenFile = path.join(root, 'token.txt');
    fs.writeFileSync(tokenFile, TOKEN);
    page = await startPageServer(PAGE, { '/ort/': ORT_WEB_DIST, '/bundle/': bundles });
    for (const c of cases) {
      buildFixtureBundle(c.fx, c.cut, path.join(bundles, c.name));
      clouds.set(c.name, await startCloud(path.join(bundles, c.name), tokenFile, ['--cors-origin', page.origin]));
    }
    // a learned stage trained for one epoch on 64 Fashion-MNIST test images (a small budget: the point is the bundle, not its accuracy)
    const npy = path.join(root, 'train.npy');
    fs.writeFileSync(npy, npyBytes('<f4', [64, 1, 28, 28], fashionSet('t10k', 64).images));
    await runSplit({ model: path.join(fixturesDir, 'fashion_mnist_resnet.onnx'), cutAfter: 'Relu_25', shapes: { image: [1, 1, 28, 28] }, compress: 'learned=4+int4', calib: npy, training: { epochs: 1, seed: 1 }, audit: false, outDir: path.join(bundles, 'learned'), toolVersion: 'test' });
    clouds.set('learned', await startCloud(path.join(bundles, 'learned'), tokenFile, ['--cors-origin', page.origin]));
    browser = await launchChromium(executablePath!);
  });
  afterAll(async () => {
    await browser?.close();
    for (const c of clouds.values()) await c.stop();
    await new Promise((r) => page?.server.close(r));
  });

  /** A tab on the test page with the bundles' scripts loaded; errors thrown in the page collect in `errors`. */
  const openPage = async (): Promise<{ tab: Page; errors: string[] }> => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    try {
      await tab.goto(page.origin + '/');
      await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
    } catch (e) {
      await tab.close();
      throw e;
    }
    return { tab, errors };
  };

  it.each(cases)('runs $name: edge in the page, cloud on another origin, same answer as the whole model', async ({ name, fx: f }) => {
    const { tab, errors } = await openPage();
    try {
      const feeds = seededFloatInputs(f.inputShapes, 3);
      const inputs = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dims: [...t.dims], data: Array.from(t.data as Float32Array) }]));
      const answer = await tab.evaluate(
        async ([n, endpoint, token, given]) =>
          (globalThis as unknown as { runEdge: (...a: unknown[]) => Promise<unknown> }).runEdge(n, endpoint, token, given) as Promise<{
            result: Record<string, { dtype: string; dims: number[]; data: number[] }>;
            timings: { edgeMs: number; cloudMs: number; cloudRunMs?: number };
          }>,
        [name, clouds.get(name)!.url, TOKEN, inputs] as const,
      );
      expect(errors).toEqual([]);
      const ref = await runOrt(f.path, feeds);
      expect(Object.keys(answer.result).sort()).toEqual(Object.keys(ref).sort());
      for (const [k, r] of Object.entries(ref)) {
        const got = answer.result[k]!;
        expect(got.dims).toEqual([...r.dims]);
        const refData = new Float32Array(r.bytes!.buffer.slice(r.bytes!.byteOffset, r.bytes!.byteOffset + r.bytes!.byteLength));
        const c = compareFloat(refData, Float32Array.from(got.data), r.dims);
        expect(c.ok, `${k}: ${c.why}`).toBe(true);
      }
      expect(answer.timings.edgeMs).toBeGreaterThan(0);
      // Server-Timing crosses origins because the server exposes it
      expect(answer.timings.cloudRunMs).toBeGreaterThan(0);
    } finally {
      await tab.close();
    }
  });

  it('runs a bundle with a trained learned=4+int4 stage: the same answer as its edge then cloud models in onnxruntime-node', async () => {
    const dir = path.join(bundles, 'learned');
    const cloudModel = fs.readdirSync(path.join(dir, 'cloud')).find((f) => f.endsWith('.onnx'))!;
    const [edge, cloud] = [await ort.InferenceSession.create(path.join(dir, 'edge/model.onnx')), await ort.InferenceSession.create(path.join(dir, 'cloud', cloudModel))];
    const image = fashionSet('t10k', 65).images.slice(64 * PER, 65 * PER); // not a training image
    const wire = await edge.run({ image: new ort.Tensor('float32', image, [1, 1, 28, 28]) });
    const ref = await cloud.run(Object.fromEntries(cloud.inputNames.map((n) => [n, wire[n]!])));
    await Promise.all([edge.release(), cloud.release()]);
    const { tab, errors } = await openPage();
    try {
      const answer = await tab.evaluate(
        async ([endpoint, token, given]) =>
          (globalThis as unknown as { runEdge: (...a: unknown[]) => Promise<unknown> }).runEdge('learned', endpoint, token, given) as Promise<{ result: Record<string, { dims: number[]; data: number[] }> }>,
        [clouds.get('learned')!.url, TOKEN, { image: { dims: [1, 1, 28, 28], data: Array.from(image) } }] as const,
      );
      expect(errors).toEqual([]);
      expect(Object.keys(answer.result).sort()).toEqual(Object.keys(ref).sort());
      for (const [k, r] of Object.entries(ref)) {
        expect(answer.result[k]!.dims).toEqual([...r.dims]);
        const c = compareFloat(r.data as Float32Array, Float32Array.from(answer.result[k]!.data), r.dims);
        expect(c.ok, `${k}: ${c.why}`).toBe(true);
      }
    } finally {
      await tab.close();
    }
  });

  it('is refused across origins without the token', async () => {
    const { tab } = await openPage();
    try {
      const feeds = seededFloatInputs(cases[0]!.fx.inputShapes, 3);
      const inputs = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dims: [...t.dims], data: Array.from(t.data as Float32Array) }]));
      const message = await tab.evaluate(
        async ([endpoint, given]) => {
          try {
            await (globalThis as unknown as { runEdge: (...a: unknown[]) => Promise<unknown> }).runEdge('cls', endpoint, 'wrong', given);
            return 'no error';
          } catch (e) {
            return `${(e as { code?: string }).code}: ${(e as Error).message}`;
          }
        },
        [clouds.get('cls')!.url, inputs] as const,
      );
      expect(message).toMatch(/^E_UNAUTHORIZED/);
    } finally {
      await tab.close();
    }
  });
});
