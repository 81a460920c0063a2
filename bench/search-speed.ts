// Search speed: `planSplit` (shape inference, costs, the exact min-cut per compression option,
// candidates, constraints, Pareto front) on a synthetic 10,000-node DAG with 5 compression
// options, and on each fixture with the same 5 options. Excludes profiling and fidelity
// measurement (profiles are presets; no --min-agreement). Goals: ≤ 2 s and ≤ 200 ms.
//
//   npx tsx bench/search-speed.ts [--runs 5] [--nodes 10000] [--models stem,…]
//
// --nodes sizes the synthetic DAG; --models keeps only the named fixtures (file names without
// .onnx). The defaults (10,000 nodes, every fixture) are what docs/benchmarks.md records.
//
// The synthetic DAG: a chain of blocks, each a 1×1 Conv, Relu and an Add of a skip connection
// from 1–3 blocks back (random, seeded), over a [1,16,8,8] activation: every cut crosses
// several tensors, as in ResNet/U-Net shapes.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../src/ir/builder.js';
import { DataType } from '../src/ir/dtype.js';
import type { Model, Value } from '../src/ir/graph.js';
import { loadModelWithBytes } from '../src/ir/serde/io.js';
import { planSplit } from '../src/search/plan/split.js';
import { modelSha256Of } from '../src/search/profiles/predict.js';
import { devicePreset, linkPreset } from '../src/search/profiles/presets.js';
import { arg, selectModels } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 5;
const syntheticNodes = Number(arg('nodes', '10000'));
const OPTIONS = ['none', 'fp16', 'int8', 'int4', 'pca=8+int8'];
const opts = { edge: devicePreset('phone-wasm')!, cloud: devicePreset('cloud-cpu')!, link: linkPreset('lte')!, compressOptions: OPTIONS };

function syntheticDag(nodes: number): Model {
  const b = new GraphBuilder('synthetic');
  let seed = 7;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const C = 16;
  const x = b.input('x', DataType.FLOAT, [1, C, 8, 8]);
  const w = b.weight('w', [C, C, 1, 1], 1);
  const outs: Value[] = [x];
  let count = 0;
  let y = x;
  while (count + 3 <= nodes) {
    const skip = outs[Math.max(0, outs.length - 1 - Math.floor(rnd() * 3))]!;
    y = b.op('Relu', [b.op('Conv', [y, w], { kernel_shape: [1, 1] })]);
    y = b.op('Add', [y, skip]);
    outs.push(y);
    count += 3;
  }
  b.output(y, { dtype: DataType.FLOAT, shape: [1, C, 8, 8] });
  return b.model({ opset: 17 });
}

async function time(label: string, make: () => { model: Model; sha?: string; shapes: Record<string, number[]> }): Promise<string> {
  const ts: number[] = [];
  let nodes = 0;
  let candidates = 0;
  let chosen = '';
  for (let i = 0; i < runs + 1; i++) {
    const { model, sha, shapes } = make(); // a fresh model each run (planning infers shapes in place)
    nodes = [...model.graph.nodes].length;
    const t0 = performance.now();
    const plan = await planSplit(model, { ...opts, inputShapes: shapes, ...(sha ? { modelSha256: sha } : {}) });
    if (i > 0) ts.push(performance.now() - t0); // the first run warms the JIT
    candidates = plan.candidates.length;
    chosen = `${plan.chosen.kind}${plan.chosen.kind === 'split' ? ` (${plan.chosen.cutTensors.length} tensors, ${plan.chosen.compress})` : ''}`;
  }
  ts.sort((a, b) => a - b);
  return `| ${label} | ${nodes} | ${OPTIONS.length} | ${candidates} | ${chosen} | ${ts[ts.length >> 1]!.toFixed(0)} | ${ts[ts.length - 1]!.toFixed(0)} |`;
}

const rows: string[] = [];
rows.push(await time('synthetic DAG (skip connections)', () => ({ model: syntheticDag(syntheticNodes), shapes: {} })));
const fixtures = selectModels(
  (JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: { file: string; inputShapes: Record<string, number[]> }[] }).models,
  arg('models', ''),
);
for (const f of fixtures) {
  rows.push(
    await time(f.file.replace(/\.onnx$/, ''), () => {
      const { model, bytes } = loadModelWithBytes(path.join(repoRoot, 'fixtures/models', f.file));
      return { model, sha: modelSha256Of(bytes), shapes: f.inputShapes };
    }),
  );
}
console.log(`${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}; median and max of ${runs} runs after one warm-up; options ${OPTIONS.join(', ')}; edge phone-wasm, link lte, cloud cloud-cpu\n`);
console.log('| model | nodes (incl. Constant) | options | candidates | chosen | median ms | max ms |');
console.log('|---|---:|---:|---:|---|---:|---:|');
for (const r of rows) console.log(r);
