// Bytes per sample on the wire for each compression, next to the raw float32 input and the
// raw cut tensors: benchmark (c) of the split issue. Byte counts do not depend on the
// calibration values, so a few random samples calibrate here; the fidelity of each
// compression on real data is in docs/cli.md (tests/search/fidelity.test.ts).
//
//   npx tsx bench/compress-bytes.ts [--models stem,…]
//
// --models keeps only the named fixtures (file names without .onnx; default all, which
// docs/benchmarks.md records); the detector's Resize cut is measured when the detector is kept.
//
// Prints a markdown table.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../src/ir/graph.js';
import { loadModel } from '../src/ir/serde/io.js';
import { parseCompressSpec } from '../src/passes/bottleneck/spec.js';
import { cutAfterNode, splitModel } from '../src/passes/cut.js';
import { PassContext } from '../src/passes/pass.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { modelInputs, randomSamples } from '../src/search/calib-data.js';
import { calibrateAndCompress } from '../src/search/calibrate.js';
import { byteSizeOf } from '../src/ir/dtype.js';
import { arg, selectModels } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = selectModels(
  (JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: { file: string; inputShapes: Record<string, number[]> }[] }).models,
  arg('models', ''),
);
const SPECS = ['none', 'fp16', 'int8', 'int4', 'int2', 'pca=16+int4', 'pca=8+int4'];

function middle(m: Model): { cut: string[]; label: string } {
  const nodes = [...m.graph.nodes].filter((n) => n.opType !== 'Constant' && n.name);
  const at = nodes[Math.floor(0.5 * (nodes.length - 1))]!.name;
  return { cut: cutAfterNode(m, at), label: `after ${at}` };
}
function firstResize(m: Model): { cut: string[]; label: string } {
  const at = [...m.graph.nodes].find((n) => n.opType === 'Resize')!.name;
  return { cut: cutAfterNode(m, at), label: `after ${at}` };
}

const rows: string[] = [];
const cases = [...fixtures.map((f) => [f, middle] as const), ...fixtures.filter((f) => f.file.includes('det')).map((f) => [f, firstResize] as const)];
for (const [f, where] of cases) {
  const model = loadModel(path.join(repoRoot, 'fixtures/models', f.file));
  inferShapes(model, { inputShapes: f.inputShapes });
  const { cut, label } = where(model);
  const split = splitModel(model, cut);
  const rawInput = Object.values(f.inputShapes).reduce((a, d) => a + 4 * d.reduce((x, y) => x * y, 1), 0);
  const values = new Map([...model.graph.nodes].flatMap((n) => n.outputs.map((o) => [o.name, o] as const)));
  const rawCut = split.cutTensors.reduce((a, t) => {
    const v = values.get(t)!;
    return a + byteSizeOf(v.dtype!, (v.shape as number[]).reduce((x, y) => x * y, 1));
  }, 0);
  const samples = randomSamples(modelInputs(model), 4, { seed: 1, ctx: new PassContext() });
  for (const text of SPECS) {
    const spec = parseCompressSpec(text);
    let wire = rawCut;
    if (spec.stages.length) {
      const { compressed } = await calibrateAndCompress(split, spec, samples, { ctx: new PassContext() });
      wire = compressed.wire.reduce((a, w) => a + (w.bytesPerSample ?? 0), 0);
    }
    rows.push(
      `| ${f.file.replace('.onnx', '')} | ${label} (${split.cutTensors.length}) | ${text} | ${rawInput} | ${rawCut} | ${wire} | ${(wire / rawInput).toFixed(3)} | ${(rawCut / wire).toFixed(1)}× |`,
    );
  }
}
console.log('| model | cut (tensors) | compression | raw input B | raw cut B | wire B | wire ÷ raw input | cut ÷ wire |');
console.log('|---|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
