// Training speed of a learned bottleneck: seconds per epoch of splitc's learnBottleneck (the
// training form, onnxruntime-node, straight-through quantisation, rest frozen) against PyTorch
// training the same bottleneck on the same architecture with the rest frozen
// (bench/learn_torch.py), same samples per epoch, batch and threads, in alternating rounds.
// The model is the project's Fashion-MNIST ResNet cut after its second stage; inputs are seeded
// random images (the time does not depend on them). The first epoch of each run is a warm-up.
//
//   npx tsx bench/learn-speed.ts [--samples 4096] [--epochs 3] [--rounds 2] [--threads 2]
//                                [--specs learned=16/s2+int4,learned=4+int4] [--no-torch]

import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType } from '../src/ir/dtype.js';
import type { Model } from '../src/ir/graph.js';
import { loadModel } from '../src/ir/serde/io.js';
import { parseCompressSpec } from '../src/passes/bottleneck/spec.js';
import type { SplitResult } from '../src/passes/cut.js';
import { cutPass } from '../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager } from '../src/passes/pass.js';
import { inferShapes } from '../src/passes/shape/index.js';
import { learnBottleneck } from '../src/pipeline/learn.js';
import type { CalibSample } from '../src/search/calib-data.js';
import { arg, seededFloats } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const samples = Number(arg('samples', '4096'));
const epochs = Number(arg('epochs', '3'));
const rounds = Number(arg('rounds', '2'));
const threads = Number(arg('threads', '2'));
const specs = arg('specs', 'learned=16/s2+int4,learned=4+int4').split(',');
const noTorch = process.argv.includes('--no-torch');
const BATCH = 32;
if (epochs < 2) throw new Error('--epochs must be at least 2 (the first is a warm-up)');

const model = loadModel(path.join(here, '..', 'fixtures', 'models', 'fashion_mnist_resnet.onnx'));
inferShapes(model, { inputShapes: { image: [1, 1, 28, 28] } });
const split = new PassManager<Model, SplitResult>([cutPass({ after: 'Relu_25' })], CHECKED_RUN).run(model).model;
const pixels = seededFloats(samples * 784, 7);
const train: CalibSample[] = Array.from({ length: samples }, (_, i) => ({
  id: `r${i}`,
  load: () => ({ image: { dtype: DataType.FLOAT, dims: [1, 1, 28, 28], data: pixels.subarray(i * 784, (i + 1) * 784) } }),
}));
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

async function splitcEpoch(spec: string): Promise<number> {
  const ends: number[] = [];
  await learnBottleneck(model, split, parseCompressSpec(spec), train, [], {
    epochs,
    seed: 1,
    batchSize: BATCH,
    threads,
    onProgress: (p) => {
      if (p.heldOutAgreement !== undefined) ends.push(performance.now());
    },
  });
  return median(ends.slice(1).map((t, i) => (t - ends[i]!) / 1000));
}

function torchEpoch(spec: string): number {
  const m = /^learned=(\d+)(\/s2)?/.exec(spec);
  if (!m) throw new Error(`not a learned spec: ${spec}`);
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'learn_torch.py'), '--threads', String(threads), '--batch', String(BATCH), '--samples', String(samples), '--epochs', String(epochs - 1), '--k', m[1]!, ...(m[2] ? ['--s2'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`learn_torch.py failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { secondsPerEpoch: number }).secondsPerEpoch;
}

const rows: string[] = [];
for (const spec of specs) {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    ours.push(await splitcEpoch(spec));
    if (!noTorch) theirs.push(torchEpoch(spec));
  }
  const [s, t] = [median(ours), noTorch ? NaN : median(theirs)];
  rows.push(`| ${spec} | ${samples} | ${BATCH} | ${threads} | ${s.toFixed(2)} (${ours.map((x) => x.toFixed(2)).join(', ')}) | ${noTorch ? '—' : `${t.toFixed(2)} (${theirs.map((x) => x.toFixed(2)).join(', ')})`} | ${noTorch ? '—' : `**${(t / s).toFixed(2)}×**`} |`);
}
console.log(`${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; median of ${rounds} alternating rounds, each the median epoch after a warm-up epoch\n`);
console.log('| spec | samples/epoch | batch | threads | splitc s/epoch (rounds) | PyTorch s/epoch (rounds) | splitc speed ÷ PyTorch |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
