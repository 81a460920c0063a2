// End-to-end measurement on emulated links, shared by bench/plan.ts and bench/learned-plan.ts:
// device profiles of this machine (optionally an edge emulated S× slower), edge-only, cloud-only
// and a generated bundle, each timed through src/runtime/link-emulation.ts.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ortWeb from 'onnxruntime-web';
import { type ServerChild, startServerChild } from './lib.js';
import { runProfile } from '../src/cli/profile.js';
import { createKServeClient } from '../src/runtime/client.js';
import { shapedFetch } from '../src/runtime/link-emulation.js';
import { nodeFetch } from '../src/runtime/node-transport.js';
import type { DeviceProfile, LinkProfile } from '../src/search/profiles/types.js';
import { loadDeviceProfile } from '../src/search/profiles/load.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'bench-token';

export interface E2eSettings {
  /** Seconds of warm-up per configuration (at least 2 runs). */
  warmupS: number;
  /** Seconds of timed runs per configuration (at least 3, at most 30 runs). */
  budgetS: number;
  /** The edge is emulated this many times slower than this machine's wasm (1: as is). */
  edgeSlowdown: number;
  rttMs: number;
  /** Prefix of the scratch folder under the OS temp folder. */
  tmpPrefix: string;
}

/** A model input as the benchmarks feed it: float32 dims and data. */
export type Inputs = Record<string, { dims: number[]; data: Float32Array }>;

export interface E2e {
  settings: E2eSettings;
  /** Scratch folder (node_modules linked in, so generated bundles resolve onnxruntime); removed by cleanup(). */
  tmp: string;
  /** Median ms of `fn` after the warm-up. */
  timeIt(fn: () => Promise<unknown>): Promise<number>;
  /** Runs an edge computation, then waits as long again × (S − 1): a device S× slower. */
  slowEdge<T>(fn: () => Promise<T>, edgeMsOf?: (r: T, wallMs: number) => number): Promise<T>;
  /** A link of `mbps` both ways with the settings' RTT. */
  emulated(mbps: number): LinkProfile;
  /**
   * Device profiles for planning: `given` (a preset or file) per side, else profiled here (edge:
   * onnxruntime-web wasm, cloud: onnxruntime-node, one thread each); the edge's scaled by the slowdown.
   */
  profiles(models: { file: string; inputShapes: Record<string, number[]> }[], given: Record<'edge' | 'cloud', string>): Promise<{ edge: DeviceProfile; cloud: DeviceProfile }>;
  /** The whole model in onnxruntime-web (one thread), slowed as the edge is. */
  edgeOnlyMs(modelBytes: Uint8Array, inputs: Inputs): Promise<number>;
  /** splitc's server (one intra-op thread) holding the whole model `file` as 'model'. */
  startWholeServer(file: string, name: string): Promise<ServerChild>;
  /** The raw inputs through the link to a server holding the whole model. */
  cloudOnlyMs(server: ServerChild, link: LinkProfile, inputs: Inputs): Promise<number>;
  /** A generated bundle end to end: its edge module (slowed) → the link → its cloud/server.js. */
  bundleMs(bundleDir: string, link: LinkProfile, inputs: Inputs): Promise<number>;
  cleanup(): void;
}

export const log = (s: string): void => void process.stderr.write(s + '\n');
const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
const webFeeds = (inputs: Inputs): Record<string, ortWeb.Tensor> => Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, new ortWeb.Tensor('float32', t.data, t.dims)]));

/** The profile of an edge `slowdown`× slower: node times, slowdown and run overhead scaled. */
export function slowedEdge(measured: DeviceProfile, slowdown: number): DeviceProfile {
  if (slowdown === 1) return measured;
  return {
    ...measured,
    name: `${measured.name} ×${slowdown}`,
    latency: {
      ...measured.latency,
      slowdown: measured.latency.slowdown * slowdown,
      runOverheadMs: measured.latency.runOverheadMs * slowdown,
      measured: (measured.latency.measured ?? []).map((m) => ({ ...m, nodesMs: Object.fromEntries(Object.entries(m.nodesMs).map(([k, v]) => [k, v * slowdown])) })),
    },
  };
}

export function createE2e(settings: E2eSettings): E2e {
  const { warmupS, budgetS, edgeSlowdown, rttMs } = settings;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), settings.tmpPrefix));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
  const tokenFile = path.join(tmp, 'token');
  fs.writeFileSync(tokenFile, TOKEN);
  ortWeb.env.wasm.numThreads = 1;

  async function timeIt(fn: () => Promise<unknown>): Promise<number> {
    // Warm up for --warmup-s (at least 2 runs): V8 first runs wasm on its baseline compiler, up
    // to 2.5× slower than after tier-up.
    const w0 = performance.now();
    for (let i = 0; i < 2 || performance.now() - w0 < warmupS * 1000; i++) await fn();
    const ts: number[] = [];
    const t0 = performance.now();
    while (ts.length < 30 && (ts.length < 3 || performance.now() - t0 < budgetS * 1000)) {
      const s = performance.now();
      await fn();
      ts.push(performance.now() - s);
    }
    ts.sort((a, b) => a - b);
    return ts[ts.length >> 1]!;
  }
  async function slowEdge<T>(fn: () => Promise<T>, edgeMsOf?: (r: T, wallMs: number) => number): Promise<T> {
    const t0 = performance.now();
    const r = await fn();
    if (edgeSlowdown !== 1) await sleep((edgeSlowdown - 1) * (edgeMsOf ? edgeMsOf(r, performance.now() - t0) : performance.now() - t0));
    return r;
  }
  const startServer = (script: string[], dir?: string): Promise<ServerChild> =>
    startServerChild([...script, ...(dir !== undefined ? [dir] : []), '--port', '0', '--token-file', tokenFile, '--intra-op-threads', '1'], { cwd: repoRoot });

  return {
    settings,
    tmp,
    timeIt,
    slowEdge,
    emulated: (mbps) => ({ kind: 'link', schemaVersion: 1, name: `${mbps} Mbps`, uplinkMbps: mbps, downlinkMbps: mbps, rttMs }),
    async profiles(models, given) {
      const files: Record<'edge' | 'cloud', string> = { edge: given.edge || path.join(tmp, 'edge.json'), cloud: given.cloud || path.join(tmp, 'cloud.json') };
      for (const [side, backend] of [['edge', 'wasm'], ['cloud', 'node']] as const) {
        if (given[side]) {
          log(`${side}: device profile ${given[side]} (not profiled)`);
          continue;
        }
        log(`profiling the fixtures for the ${side} (${backend}, one thread) …`);
        await runProfile({ models: models.map((m) => m.file), modelInputShapes: models.map((m) => m.inputShapes), backend, threads: 1, output: files[side], json: true, write: () => {} });
      }
      return { edge: slowedEdge(loadDeviceProfile(files.edge), edgeSlowdown), cloud: loadDeviceProfile(files.cloud) };
    },
    async edgeOnlyMs(modelBytes, inputs) {
      const whole = await ortWeb.InferenceSession.create(new Uint8Array(modelBytes));
      const feeds = webFeeds(inputs);
      const ms = await timeIt(() => slowEdge(() => whole.run(feeds)));
      await whole.release();
      return ms;
    },
    async startWholeServer(file, name) {
      const wholeDir = path.join(tmp, `whole-${name}`);
      fs.mkdirSync(wholeDir);
      fs.symlinkSync(file, path.join(wholeDir, 'model.onnx'));
      return startServer(['--import', 'tsx', path.join(repoRoot, 'src/runtime/serve-main.ts')], wholeDir);
    },
    async cloudOnlyMs(server, link, inputs) {
      const client = createKServeClient({ endpoint: server.url, token: TOKEN, model: 'model', fetch: shapedFetch(nodeFetch as typeof fetch, link) });
      return timeIt(() => client.infer(Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { dtype: 'float32', dims: t.dims, data: t.data }]))));
    },
    async bundleMs(bundleDir, link, inputs) {
      const server = await startServer([path.join(bundleDir, 'cloud/server.js')]);
      try {
        const { createEdge } = (await import(pathToFileURL(path.join(bundleDir, 'edge', 'index.js')).href)) as {
          createEdge: (o: object) => Promise<{ inferWithTimings: (i: object) => Promise<{ timings: { edgeMs: number } }>; release: () => Promise<void> }>;
        };
        const edgeRt = await createEdge({ endpoint: server.url, token: TOKEN, numThreads: 1, fetch: shapedFetch(nodeFetch as typeof fetch, link) });
        const feeds = webFeeds(inputs);
        const ms = await timeIt(() => slowEdge(() => edgeRt.inferWithTimings(feeds), (r) => r.timings.edgeMs));
        await edgeRt.release();
        return ms;
      } finally {
        await server.stop();
      }
    },
    cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }),
  };
}
