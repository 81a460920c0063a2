// Plan benchmark: does the plan's predicted best run fastest when measured? For each fixture
// and each emulated link (1, 10, 100 Mbps, same RTT), plan with device profiles measured on
// this machine (edge: onnxruntime-web wasm, one thread — what the edge bundle runs; cloud:
// onnxruntime-node, one thread — the server runs with --intra-op-threads 1), then measure end
// to end, through the emulated link (src/runtime/link-emulation.ts):
//   - edge-only: the whole model in onnxruntime-web;
//   - cloud-only: the raw input sent to splitc's server holding the whole model;
//   - the chosen plan (its bundle: generated edge module → generated cloud/server.js), and the
//     best predicted split when the plan chose a baseline.
//
//   npx tsx bench/plan.ts [--links 1,10,100] [--rtt 20] [--compress-options int8] [--budget-s 8]
//                         [--warmup-s 2] [--edge-slowdown S] [--models stem,…]
//                         [--edge-profile P] [--cloud-profile P] [--chosen-only]
//
// --edge-slowdown S emulates an edge device S× slower than this machine's wasm: after each
// edge computation the edge waits (S − 1) × the time it took, and the edge profile's measured
// node times are multiplied by S. Transfers, round trips and the cloud stay real.
//
// Prints markdown. Each configuration warms up for --warmup-s seconds (at least 2 runs), then
// repeats until --budget-s seconds or 30 runs (at least 3); medians. --models keeps only the
// named fixtures (file names without .onnx), for profiles and plans alike. --edge-profile /
// --cloud-profile plan with the given device profile (a preset name or a JSON file) instead of
// profiling that side first; the prediction then describes that device, not this machine.
// --chosen-only measures the chosen plan and the two baselines only, not also the best predicted
// split when a baseline was chosen. The defaults (all fixtures, both sides profiled here, the
// best split measured too) are what docs/benchmarks.md records.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ortWeb from 'onnxruntime-web';
import { loadModelWithBytes } from '../src/ir/serde/io.js';
import { arg, seededFloats, selectModels, type ServerChild, startServerChild } from './lib.js';
import { runProfile } from '../src/cli/profile.js';
import { runSplit } from '../src/cli/split.js';
import { createKServeClient } from '../src/runtime/client.js';
import { shapedFetch } from '../src/runtime/link-emulation.js';
import { nodeFetch } from '../src/runtime/node-transport.js';
import { planSplit } from '../src/search/plan/split.js';
import { type Candidate, type Plan } from '../src/search/plan/types.js';
import type { LinkProfile } from '../src/search/profiles/types.js';
import { loadDeviceProfile } from '../src/search/profiles/load.js';
import { modelSha256Of } from '../src/search/profiles/predict.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const TOKEN = 'bench-token';

const linksMbps = arg('links', '1,10,100').split(',').map(Number);
const rttMs = Number(arg('rtt', '20'));
const compressOptions = arg('compress-options', 'int8').split(',').filter(Boolean);
const budgetS = Number(arg('budget-s', '8'));
const warmupS = Number(arg('warmup-s', '2'));
const edgeSlowdown = Number(arg('edge-slowdown', '1'));
const chosenOnly = process.argv.includes('--chosen-only');
const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
/** Runs an edge computation, then waits as long again × (S − 1): a device S× slower. */
async function slowEdge<T>(fn: () => Promise<T>, edgeMsOf?: (r: T, wallMs: number) => number): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  if (edgeSlowdown !== 1) await sleep((edgeSlowdown - 1) * (edgeMsOf ? edgeMsOf(r, performance.now() - t0) : performance.now() - t0));
  return r;
}

interface Fixture {
  file: string;
  inputShapes: Record<string, number[]>;
}
const fixtures = selectModels((JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: Fixture[] }).models, arg('models', ''));
const modelPath = (f: Fixture): string => path.join(repoRoot, 'fixtures/models', f.file);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-plan-'));
fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
const tokenFile = path.join(tmp, 'token');
fs.writeFileSync(tokenFile, TOKEN);
const log = (s: string): void => void process.stderr.write(s + '\n');

const seeded = (n: number, seed: number): Float32Array => seededFloats(n, seed);

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

function startServer(script: string[], dir?: string): Promise<ServerChild> {
  return startServerChild([...script, ...(dir !== undefined ? [dir] : []), '--port', '0', '--token-file', tokenFile, '--intra-op-threads', '1'], { cwd: repoRoot });
}

const emulated = (mbps: number): LinkProfile => ({ kind: 'link', schemaVersion: 1, name: `${mbps} Mbps`, uplinkMbps: mbps, downlinkMbps: mbps, rttMs });

// 1. Profiles of this machine (or the ones given).
const given: Record<'edge' | 'cloud', string> = { edge: arg('edge-profile', ''), cloud: arg('cloud-profile', '') };
const profileFiles: Record<'edge' | 'cloud', string> = { edge: given.edge || path.join(tmp, 'edge.json'), cloud: given.cloud || path.join(tmp, 'cloud.json') };
for (const [side, backend] of [['edge', 'wasm'], ['cloud', 'node']] as const) {
  if (given[side]) {
    log(`${side}: device profile ${given[side]} (not profiled)`);
    continue;
  }
  log(`profiling the fixtures for the ${side} (${backend}, one thread) …`);
  await runProfile({
    models: fixtures.map(modelPath),
    modelInputShapes: fixtures.map((f) => f.inputShapes),
    backend,
    threads: 1,
    output: profileFiles[side],
    json: true,
    write: () => {},
  });
}
const measuredEdge = loadDeviceProfile(profileFiles.edge);
const edge = {
  ...measuredEdge,
  name: edgeSlowdown === 1 ? measuredEdge.name : `${measuredEdge.name} ×${edgeSlowdown}`,
  latency: {
    ...measuredEdge.latency,
    slowdown: measuredEdge.latency.slowdown * edgeSlowdown,
    runOverheadMs: measuredEdge.latency.runOverheadMs * edgeSlowdown,
    measured: (measuredEdge.latency.measured ?? []).map((m) => ({ ...m, nodesMs: Object.fromEntries(Object.entries(m.nodesMs).map(([k, v]) => [k, v * edgeSlowdown])) })),
  },
};
const cloud = loadDeviceProfile(profileFiles.cloud);
ortWeb.env.wasm.numThreads = 1;

const rows: string[] = [];
const summary: string[] = [];
let bundleNo = 0;
for (const f of fixtures) {
  const file = modelPath(f);
  const { bytes } = loadModelWithBytes(file);
  const sha = modelSha256Of(bytes);
  const name = f.file.replace(/\.onnx$/, '');
  const inputs = Object.fromEntries(Object.entries(f.inputShapes).map(([k, dims]) => [k, { dims, data: seeded(dims.reduce((a, b) => a * b, 1), 7) }]));

  // Edge-only and cloud-only do not depend on the plan: measure once per link.
  const whole = await ortWeb.InferenceSession.create(new Uint8Array(bytes));
  const webFeeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, new ortWeb.Tensor('float32', t.data, t.dims)]));
  const edgeOnlyMs = await timeIt(() => slowEdge(() => whole.run(webFeeds)));
  await whole.release();
  const wholeDir = path.join(tmp, `whole-${name}`);
  fs.mkdirSync(wholeDir);
  fs.symlinkSync(file, path.join(wholeDir, 'model.onnx'));
  const wholeServer = await startServer(['--import', 'tsx', path.join(repoRoot, 'src/runtime/serve-main.ts')], wholeDir);

  try {
    for (const mbps of linksMbps) {
      const link = emulated(mbps);
      const { model } = loadModelWithBytes(file);
      const t0 = performance.now();
      const plan: Plan = await planSplit(model, { edge, cloud, link, inputShapes: f.inputShapes, modelSha256: sha, compressOptions }, { file });
      const planMs = performance.now() - t0;
      const shaped = shapedFetch(nodeFetch as typeof fetch, link);
      const cloudClient = createKServeClient({ endpoint: wholeServer.url, token: TOKEN, model: 'model', fetch: shaped });
      const cloudOnlyMs = await timeIt(() => cloudClient.infer(Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { dtype: 'float32', dims: t.dims, data: t.data }]))));

      // The splits to measure: the chosen one, and the best predicted split (unless --chosen-only).
      const splits: Candidate[] = [];
      // (a cloud-only candidate that compresses the raw input is built like a split at the input)
      if (plan.chosen !== plan.baselines.edgeOnly && plan.chosen !== plan.baselines.cloudOnly) splits.push(plan.chosen);
      const bestSplit = plan.candidates.find((c) => c.kind === 'split');
      if (bestSplit && !splits.includes(bestSplit) && !chosenOnly) splits.push(bestSplit);
      const measured = new Map<Candidate, number>([
        [plan.baselines.edgeOnly, edgeOnlyMs],
        [plan.baselines.cloudOnly, cloudOnlyMs],
      ]);
      for (const c of splits) {
        const dir = path.join(tmp, `b${bundleNo++}`);
        await runSplit({ model: file, cut: c.cutTensors, ...(c.compress !== 'none' ? { compress: c.compress, calib: 'random:8' } : {}), shapes: f.inputShapes, outDir: dir, toolVersion: '0.1.0' });
        const server = await startServer([path.join(dir, 'cloud/server.js')]);
        try {
          const { createEdge } = (await import(pathToFileURL(path.join(dir, 'edge', 'index.js')).href)) as {
            createEdge: (o: object) => Promise<{ inferWithTimings: (i: object) => Promise<{ timings: { edgeMs: number } }>; release: () => Promise<void> }>;
          };
          const edgeRt = await createEdge({ endpoint: server.url, token: TOKEN, numThreads: 1, fetch: shaped });
          const feeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, new ortWeb.Tensor('float32', t.data, t.dims)]));
          measured.set(c, await timeIt(() => slowEdge(() => edgeRt.inferWithTimings(feeds), (r) => r.timings.edgeMs)));
          await edgeRt.release();
        } finally {
          await server.stop();
        }
      }
      const entries = [...measured.entries()];
      const measuredBest = Math.min(...entries.map(([, v]) => v));
      const chosenMeasured = measured.get(plan.chosen)!;
      const betterBaseline = Math.min(edgeOnlyMs, cloudOnlyMs);
      for (const [c, m] of entries) {
        const label = c.kind === 'cloud-only' && c.compress !== 'none' ? `cloud-only, input ${c.compress}` : c.kind === 'split' ? `split: ${c.edgeNodes} edge nodes, ${c.cutTensors.length} tensor${c.cutTensors.length > 1 ? 's' : ''}, ${c.compress}` : c.kind;
        rows.push(
          `| ${name} | ${mbps} | ${c === plan.chosen ? '**' + label + '** (chosen)' : label} | ${c.totalMs.toFixed(1)} | ${m.toFixed(1)} | ${((c.totalMs - m) / m * 100).toFixed(0)}% | ${(c.bytesPerSample / 1000).toFixed(1)} |`,
        );
      }
      const ok = chosenMeasured <= measuredBest * 1.1;
      summary.push(
        `| ${name} | ${mbps} | ${plan.chosen.kind}${plan.chosen.compress !== 'none' ? ` (${plan.chosen.compress})` : ''} | ${chosenMeasured.toFixed(1)} | ${measuredBest.toFixed(1)} | ${ok ? 'yes' : '**no**'} | ${(betterBaseline / chosenMeasured).toFixed(2)}× | ${planMs.toFixed(0)} |`,
      );
      log(`${name} @ ${mbps} Mbps: chose ${plan.chosen.kind} (${plan.chosen.totalMs.toFixed(1)} ms predicted, ${chosenMeasured.toFixed(1)} measured; best measured ${measuredBest.toFixed(1)})`);
    }
  } finally {
    await wholeServer.stop();
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

console.log(`${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}; links ${linksMbps.join(', ')} Mbps (both directions) with ${rttMs} ms RTT, emulated; compression options: none, ${compressOptions.join(', ')}; edge ${edgeSlowdown === 1 ? 'this machine (wasm, 1 thread)' : `emulated ${edgeSlowdown}× slower than this machine's wasm`}${given.edge || given.cloud ? ` (planned with device profiles ${given.edge || 'profiled here'} / ${given.cloud || 'profiled here'})` : ''}; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
console.log('| model | Mbps | plan | predicted ms | measured ms (median) | prediction error | bytes/sample kB |');
console.log('|---|---:|---|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
console.log('\n| model | Mbps | chosen | chosen measured ms | best measured ms | chosen within 10% of best | speed-up over better baseline (measured) | plan ms |');
console.log('|---|---:|---|---:|---:|---|---:|---:|');
for (const r of summary) console.log(r);
