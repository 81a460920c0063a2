// Federated training's costs (issue 18's benchmark), on the project's small Fashion-MNIST ResNet
// (src/runtime/train/models.ts; 16/32/64 channels, the architecture `splitc fed simulate --arch
// resnet8` trains):
//   - throughput: one client's local training (LocalTrainer: SGD with momentum, batch 32) in
//     samples per second, against PyTorch training the same architecture the same way
//     (bench/federated_torch.py), same samples, batch and threads, in alternating rounds;
//   - aggregate: the coordinator's work for one round of `--updates` clients (validating each
//     update against the task, then the sample-weighted FedAvg);
//   - rounds: rounds per minute of the in-process simulation with `--clients` clients, IID, one
//     local epoch over `--per-client` Fashion-MNIST images each;
//   - accuracy: Fashion-MNIST test accuracy after `--rounds` rounds of FedAvg, FedProx (μ `--mu`)
//     and SphereFed (on FedAvg, with the closed-form calibration, λ `--lambda`), `--clients`
//     clients over `--clients × --per-client` training images split by Dirichlet(`--alpha`) over
//     labels, and IID as a reference; same rounds, local epochs, learning rate and seed for all.
//
//   npx tsx bench/federated.ts [--parts throughput,aggregate,rounds,accuracy] [--samples 2048]
//                              [--epochs 3] [--repeats 2] [--threads 2] [--updates 100] [--clients 10]
//                              [--per-client 600] [--rounds 3] [--local-epochs 1] [--lr 0.05]
//                              [--alpha 0.1] [--mu 0.01] [--lambda 0.001] [--test-limit 10000] [--no-torch]
// Prints markdown tables and the machine; docs/benchmarks.md records the command and figures.

import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { fedAvg, validateUpdate } from '../src/runtime/federated/aggregate.js';
import { loadFederatedDataset } from '../src/runtime/federated/data.js';
import { LocalTrainer } from '../src/runtime/federated/local.js';
import { partitionCounts, partitionDirichlet, partitionIid } from '../src/runtime/federated/partition.js';
import { type RoundRecord, simulate } from '../src/runtime/federated/simulate.js';
import { initialWeights, trainingTaskOf } from '../src/runtime/federated/task.js';
import type { ClientData, ClientUpdate } from '../src/runtime/federated/types.js';
import { weightsBytes } from '../src/runtime/federated/weights.js';
import { smallResNet } from '../src/runtime/train/models.js';
import { arg, seededFloats } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const parts = arg('parts', 'throughput,aggregate,rounds').split(',');
const samples = Number(arg('samples', '2048'));
const epochs = Number(arg('epochs', '3'));
const repeats = Number(arg('repeats', '2'));
const threads = Number(arg('threads', '2'));
const updatesCount = Number(arg('updates', '100'));
const clients = Number(arg('clients', '10'));
const perClient = Number(arg('per-client', '600'));
const rounds = Number(arg('rounds', '3'));
const noTorch = process.argv.includes('--no-torch');
const localEpochs = Number(arg('local-epochs', '1'));
const alpha = Number(arg('alpha', '0.1'));
const mu = Number(arg('mu', '0.01'));
const lambda = Number(arg('lambda', '0.001'));
const testLimit = Number(arg('test-limit', '10000'));
const BATCH = 32;
const LOCAL = { lr: Number(arg('lr', '0.05')), momentum: 0.9, seed: 1 };
const sessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1 };
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const model = smallResNet({ seed: 1 });
const { task, graph } = trainingTaskOf(model, { batchSize: BATCH });
const global = initialWeights(graph);
const out: string[] = [];

function syntheticClient(n: number, seed: number): ClientData {
  const images = seededFloats(n * 784, seed);
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
  return { images, labels, n, shape: [1, 28, 28] };
}

/** Samples per second of one LocalTrainer over `epochs` epochs, the first a warm-up (median of the rest). */
async function splitcThroughput(): Promise<number> {
  const trainer = await LocalTrainer.create(ort, task, sessionOptions);
  const data = syntheticClient(samples, 7);
  const rates: number[] = [];
  try {
    for (let e = 0; e < epochs; e++) {
      const t0 = performance.now();
      const u = await trainer.train(global, data, { ...LOCAL, epochs: 1 }, { client: 'bench', round: e + 1, index: 0 });
      rates.push(u.samples / ((performance.now() - t0) / 1000));
    }
  } finally {
    await trainer.release();
  }
  return median(rates.slice(1));
}

function torchThroughput(): number {
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'federated_torch.py'), '--threads', String(threads), '--batch', String(BATCH), '--samples', String(samples), '--epochs', String(epochs), '--lr', String(LOCAL.lr)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`federated_torch.py failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { samplesPerSecond: number }).samplesPerSecond;
}

if (parts.includes('throughput')) {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    ours.push(await splitcThroughput());
    if (!noTorch) theirs.push(torchThroughput());
  }
  const [s, t] = [median(ours), noTorch ? NaN : median(theirs)];
  out.push(
    `Local training, one client (${samples} samples per epoch, batch ${BATCH}, SGD momentum 0.9, ${threads} threads; median of ${repeats} alternating rounds, each the median epoch after a warm-up):`,
    '',
    '| splitc samples/s (rounds) | PyTorch samples/s (rounds) | splitc ÷ PyTorch |',
    '|---:|---:|---:|',
    `| ${s.toFixed(0)} (${ours.map((x) => x.toFixed(0)).join(', ')}) | ${noTorch ? '—' : `${t.toFixed(0)} (${theirs.map((x) => x.toFixed(0)).join(', ')})`} | ${noTorch ? '—' : `**${(s / t).toFixed(2)}×**`} |`,
    '',
  );
}

if (parts.includes('aggregate')) {
  // updates: the global weights perturbed per client (the values do not change the work)
  const updates: ClientUpdate[] = Array.from({ length: updatesCount }, (_, k) => {
    const noise = seededFloats(1, k + 1)[0]!;
    return {
      client: `client-${String(k).padStart(3, '0')}`,
      round: 1,
      samples: 500 + k,
      loss: 1,
      weights: new Map([...global].map(([n, w]) => [n, w.map((x) => x + 1e-3 * noise)])),
    };
  });
  const times: { validate: number; average: number }[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (const u of updates) validateUpdate(task, u, 1);
    const t1 = performance.now();
    fedAvg(updates);
    times.push({ validate: t1 - t0, average: performance.now() - t1 });
  }
  const v = median(times.map((t) => t.validate));
  const a = median(times.map((t) => t.average));
  out.push(
    `Coordinator aggregation, one round of ${updatesCount} client updates (${(weightsBytes(global) / 1024).toFixed(0)} KiB of float32 each; median of 5):`,
    '',
    '| validate all (ms) | FedAvg (ms) | total (ms) |',
    '|---:|---:|---:|',
    `| ${v.toFixed(1)} | ${a.toFixed(1)} | ${(v + a).toFixed(1)} |`,
    '',
  );
}

if (parts.includes('rounds')) {
  const { train, test } = loadFederatedDataset('fashion-mnist', { trainLimit: clients * perClient, testLimit: 1000 });
  const seconds: number[] = [];
  await simulate({
    ort,
    model,
    task: { batchSize: BATCH },
    train,
    test,
    parts: partitionIid(train.labels, clients, 1),
    rounds,
    algorithm: 'fedavg',
    local: { ...LOCAL, epochs: 1 },
    seed: 1,
    sessionOptions,
    onRound: (r) => {
      seconds.push(r.seconds);
    },
  });
  const s = median(seconds);
  out.push(
    `Simulation: ${clients} clients, IID, ${perClient} Fashion-MNIST images each, one local epoch per round, test accuracy on 1,000 images after each round (${rounds} rounds):`,
    '',
    '| seconds per round (median) | rounds per minute |',
    '|---:|---:|',
    `| ${s.toFixed(1)} | ${(60 / s).toFixed(1)} |`,
    '',
  );
}

if (parts.includes('accuracy')) {
  const { train, test } = loadFederatedDataset('fashion-mnist', { trainLimit: clients * perClient, testLimit });
  const dirichlet = partitionDirichlet(train.labels, clients, alpha, 1);
  const iid = partitionIid(train.labels, clients, 1);
  // classes holding 80% of a client's samples: how skewed the split is
  const skew = (p: number[][]): number => {
    const counts = partitionCounts(p, train.labels, 10);
    const per = counts.map((c) => {
      const sorted = [...c].sort((a, b) => b - a);
      const total = sorted.reduce((a, b) => a + b, 0);
      let k = 0;
      for (let acc = 0; acc < 0.8 * total; k++) acc += sorted[k]!;
      return k;
    });
    return per.reduce((a, b) => a + b, 0) / per.length;
  };
  const runs: { name: string; split: string; algorithm: 'fedavg' | 'fedprox' | 'spherefed' }[] = [
    { name: 'FedAvg', split: 'dirichlet', algorithm: 'fedavg' },
    { name: `FedProx (μ = ${mu})`, split: 'dirichlet', algorithm: 'fedprox' },
    { name: `SphereFed + calibration (FedAvg rounds, λ = ${lambda})`, split: 'dirichlet', algorithm: 'spherefed' },
    { name: 'FedAvg', split: 'iid', algorithm: 'fedavg' },
    { name: `SphereFed + calibration (FedAvg rounds, λ = ${lambda})`, split: 'iid', algorithm: 'spherefed' },
  ];
  const rows: string[] = [];
  for (const run of runs) {
    const history: RoundRecord[] = [];
    const t0 = performance.now();
    await simulate({
      ort,
      model,
      task: { batchSize: BATCH },
      train,
      test,
      parts: run.split === 'iid' ? iid : dirichlet,
      rounds,
      algorithm: run.algorithm,
      ...(run.algorithm === 'fedprox' ? { mu } : {}),
      ...(run.algorithm === 'spherefed' ? { base: 'fedavg' as const, sphereFed: { calibrate: { lambda } } } : {}),
      local: { ...LOCAL, epochs: localEpochs },
      seed: 1,
      sessionOptions,
      onRound: (r) => {
        history.push(r);
        console.error(`${run.name} ${run.split}: round ${r.round}${r.phase ? ` (${r.phase})` : ''} test ${(r.testAccuracy * 100).toFixed(1)}% loss ${r.loss.toFixed(3)} ${r.seconds.toFixed(0)} s`);
      },
    });
    const trained = history.filter((r) => r.phase !== 'calibrated');
    const last = history.at(-1)!;
    const up = trained.reduce((a, r) => a + r.bytesUp, 0) / trained.length;
    const calib = history.find((r) => r.phase === 'calibrated');
    rows.push(
      `| ${run.split === 'iid' ? 'IID' : `Dirichlet α = ${alpha}`} | ${run.name} | **${(last.testAccuracy * 100).toFixed(1)}%** | ${(trained.at(-1)!.testAccuracy * 100).toFixed(1)}% | ${Math.max(...trained.map((r) => r.testAccuracy * 100)).toFixed(1)}% | ${(up / 1024).toFixed(0)} KiB${calib ? ` + ${(calib.bytesUp / 1024).toFixed(0)} KiB once` : ''} | ${((performance.now() - t0) / 1000).toFixed(0)} |`,
    );
  }
  out.push(
    `Fashion-MNIST, ${clients} clients over ${train.n} training images (Dirichlet α = ${alpha}: on average ${skew(dirichlet).toFixed(1)} classes hold 80% of a client's samples; IID: ${skew(iid).toFixed(1)}), ${rounds} rounds of ${localEpochs} local epoch(s), SGD lr ${LOCAL.lr} momentum 0.9, batch ${BATCH}, seed 1; test accuracy on ${test.n} test images:`,
    '',
    '| split | algorithm | final test accuracy | after the last round (before calibration) | best round | bytes up per client per round | seconds |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  );
}

out.push(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}; load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(out.join('\n'));
