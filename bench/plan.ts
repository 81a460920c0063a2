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
import { loadModelWithBytes } from '../src/ir/serde/io.js';
import { arg, seededFloats, selectModels } from './lib.js';
import { createE2e, log, repoRoot } from './e2e.js';
import { runSplit } from '../src/cli/split.js';
import { planSplit } from '../src/search/plan/split.js';
import { type Candidate, type Plan } from '../src/search/plan/types.js';
import { modelSha256Of } from '../src/search/profiles/predict.js';

const linksMbps = arg('links', '1,10,100').split(',').map(Number);
const rttMs = Number(arg('rtt', '20'));
const compressOptions = arg('compress-options', 'int8').split(',').filter(Boolean);
const budgetS = Number(arg('budget-s', '8'));
const warmupS = Number(arg('warmup-s', '2'));
const edgeSlowdown = Number(arg('edge-slowdown', '1'));
const chosenOnly = process.argv.includes('--chosen-only');

interface Fixture {
  file: string;
  inputShapes: Record<string, number[]>;
}
const fixtures = selectModels((JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: Fixture[] }).models, arg('models', ''));
const modelPath = (f: Fixture): string => path.join(repoRoot, 'fixtures/models', f.file);

const e2e = createE2e({ warmupS, budgetS, edgeSlowdown, rttMs, tmpPrefix: 'splitc-bench-plan-' });
const tmp = e2e.tmp;
const seeded = (n: number, seed: number): Float32Array => seededFloats(n, seed);

// 1. Profiles of this machine (or the ones given).
const given: Record<'edge' | 'cloud', string> = { edge: arg('edge-profile', ''), cloud: arg('cloud-profile', '') };
const { edge, cloud } = await e2e.profiles(fixtures.map((f) => ({ file: modelPath(f), inputShapes: f.inputShapes })), given);

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
  const edgeOnlyMs = await e2e.edgeOnlyMs(bytes, inputs);
  const wholeServer = await e2e.startWholeServer(file, name);

  try {
    for (const mbps of linksMbps) {
      const link = e2e.emulated(mbps);
      const { model } = loadModelWithBytes(file);
      const t0 = performance.now();
      const plan: Plan = await planSplit(model, { edge, cloud, link, inputShapes: f.inputShapes, modelSha256: sha, compressOptions }, { file });
      const planMs = performance.now() - t0;
      const cloudOnlyMs = await e2e.cloudOnlyMs(wholeServer, link, inputs);

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
        measured.set(c, await e2e.bundleMs(dir, link, inputs));
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
e2e.cleanup();

console.log(`${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}; links ${linksMbps.join(', ')} Mbps (both directions) with ${rttMs} ms RTT, emulated; compression options: none, ${compressOptions.join(', ')}; edge ${edgeSlowdown === 1 ? 'this machine (wasm, 1 thread)' : `emulated ${edgeSlowdown}× slower than this machine's wasm`}${given.edge || given.cloud ? ` (planned with device profiles ${given.edge || 'profiled here'} / ${given.cloud || 'profiled here'})` : ''}; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
console.log('| model | Mbps | plan | predicted ms | measured ms (median) | prediction error | bytes/sample kB |');
console.log('|---|---:|---|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
console.log('\n| model | Mbps | chosen | chosen measured ms | best measured ms | chosen within 10% of best | speed-up over better baseline (measured) | plan ms |');
console.log('|---|---:|---|---:|---:|---|---:|---:|');
for (const r of summary) console.log(r);
