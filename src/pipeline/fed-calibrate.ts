// `splitc fed calibrate`: SphereFed's closed-form calibration of a split bundle's cloud head from
// clients that run the edge part (issue 18, split-aware). Per client k, simulated here in one
// process with onnxruntime-node: the edge part turns its images into the cut tensors (sent to
// the cloud as in split inference), the cloud runs its trunk and returns the L2-normalised
// penultimate features z, and the client sends only V_k = Σ z zᵀ and U_k = Σ z yᵀ (float64,
// masked with --secure); its labels never leave it. W = (Σ V_k + λI)⁻¹ Σ U_k becomes the head of
// a new bundle's cloud model (trunk → normalise → W), the edge part unchanged.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type BundleOnDisk, readBundle, writeBundleWithCloud } from '../codegen/bundle-cloud.js';
import type { Json } from '../codegen/input.js';
import type { Manifest } from '../codegen/manifest.js';
import { notAnInteger, SplitcError } from '../ir/errors.js';
import { modelToBytes } from '../ir/serde/io.js';
import { deserializeModel } from '../ir/serde/read.js';
import { inferShapes } from '../passes/shape/index.js';
import { calibratedHead, type SphereFedHead, sphereFedHead } from '../passes/spherefed.js';
import { addStats, type CalibrationStats, calibrationStats, emptyStats, packedLength, packStats, solveCalibration, unpackStats } from '../runtime/federated/calibration.js';
import { subset } from '../runtime/federated/partition.js';
import { createMaskingKeys, maskVector, sumMasked } from '../runtime/federated/secure-agg.js';
import { clientIds } from '../runtime/federated/simulate.js';
import type { ClientData } from '../runtime/federated/types.js';
import { createOrtSession } from '../search/ort-session.js';
import { checkPartitionFlags, checkWholeNumbers, CLIENTS_HINT, type DataFlags, loadFedData, PARTITION_HINTS, partitionClients, type PartitionFlags } from './fed-options.js';

type Session = Awaited<ReturnType<typeof createOrtSession>>;

/** The masks bind to this context and round: a masked upload of another step does not cancel here. */
const MASK_CONTEXT = 'splitc fed calibrate';

export interface CalibrateSplitOptions {
  /** A bundle written by `splitc split` / `splitc build` whose cloud part ends in the classifier head. */
  bundleDir: string;
  /** Training samples (split among the clients by `parts`) and the test set the accuracies are measured on. */
  data: { train: ClientData; test: ClientData };
  /** Per client, its indices into `data.train`. */
  parts: readonly (readonly number[])[];
  /** Ridge term λ of W = (Σ V_k + λI)⁻¹ Σ U_k. */
  lambda: number;
  /** Sum the clients' statistics through pairwise masks: the coordinator sees only the sum. */
  secure?: boolean;
  seed: number;
  /** The new bundle's folder (never the input bundle). */
  out: string;
  /** Samples per onnxruntime run (default 256). */
  batch?: number;
  /** Recorded in the manifest's `calibration` (the data set's name, the partition). */
  describe?: { [key: string]: Json };
  onClient?: (done: number, total: number) => void;
}

export interface CalibrateSplitResult {
  outDir: string;
  manifest: Manifest;
  /** The solved W [d, C], row-major float32. */
  w: Float32Array;
  /** Σ_k V_k, U_k (as the coordinator sees them). */
  stats: CalibrationStats;
  /** Clients with data, whose statistics were summed. */
  clients: number;
  samples: number;
  dim: number;
  classes: number;
  /** Top-1 accuracy on the test set, edge → cloud, of the bundle as given and of the calibrated one. */
  accuracyBefore: number;
  accuracyAfter: number;
  testSamples: number;
  /** What one client sends to the coordinator: the packed V_k (upper triangle), U_k and n as float64, or the masked upload. */
  bytesUpPerClient: number;
  /** Per calibration sample: the cut tensors to the cloud (as in split inference) and z back (float32). */
  bytesPerSample: { toCloud: number; featuresBack: number };
}

const per = (d: ClientData): number => d.shape.reduce((a, b) => a * b, 1);

/** Runs `data` through edge → cloud in batches, handing each batch's `output` [b, …] to `each`. */
async function runEdgeThenCloud(edge: Session, cloud: Session, cloudInputs: readonly string[], data: ClientData, output: string, batch: number, each: (out: Float32Array, dims: readonly number[], start: number, b: number) => void): Promise<void> {
  const input = edge.inputNames[0]!;
  const n = per(data);
  for (let start = 0; start < data.n; start += batch) {
    const b = Math.min(batch, data.n - start);
    const x = new ort.Tensor('float32', data.images.subarray(start * n, (start + b) * n), [b, ...data.shape]);
    const cut = await edge.run({ [input]: x }, [...cloudInputs]);
    const feeds = Object.fromEntries(cloudInputs.map((name) => [name, cut[name]!]));
    const out = (await cloud.run(feeds, [output]))[output]!;
    if (out.type !== 'float32' || out.dims[0] !== b) throw new SplitcError('E_FED_CALIBRATION', `the cloud output '${output}' is ${out.type} [${out.dims.join(', ')}], not float32 [${b}, …]`);
    each(out.data as Float32Array, out.dims, start, b);
  }
}

/** Top-1 accuracy of the split model (edge → cloud, argmax of `output`) on `data`. */
async function splitAccuracy(edge: Session, cloud: Session, cloudInputs: readonly string[], data: ClientData, output: string, batch: number): Promise<number> {
  let correct = 0;
  await runEdgeThenCloud(edge, cloud, cloudInputs, data, output, batch, (out, dims, start, b) => {
    const c = dims[dims.length - 1]!;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let j = 1; j < c; j++) if (out[i * c + j]! > out[i * c + best]!) best = j;
      if (best === data.labels[start + i]) correct++;
    }
  });
  return data.n === 0 ? 0 : correct / data.n;
}

function checkData(m: Manifest, data: ClientData, which: string): void {
  if (m.edge.inputs.length !== 1) throw new SplitcError('E_FED_DATA', `the bundle's edge part takes ${m.edge.inputs.length} inputs; calibration feeds it images through one`);
  const want = m.edge.inputs[0]!.shape.slice(1);
  const fits = want.length === data.shape.length && want.every((d, i) => typeof d !== 'number' || d === data.shape[i]);
  if (!fits) throw new SplitcError('E_FED_DATA', `the ${which} samples are [${data.shape.join(', ')}]; the bundle's edge input '${m.edge.inputs[0]!.name}' takes [N, ${want.join(', ')}]`);
}

/**
 * The bundle's cloud model with its head rewritten by sphereFedHead, so that it also outputs the
 * normalised features z (its fixed matrix is never used: the solved W replaces it). Throws
 * E_SPHEREFED when the cloud part does not end in a classifier head.
 */
export function cloudFeatureHead(bundle: BundleOnDisk, seed: number): SphereFedHead {
  const m = bundle.manifest;
  try {
    const file = path.join(bundle.dir, ...m.cloud.model.split('/'));
    const cloud = deserializeModel(bundle.cloudBytes, { baseDir: path.dirname(file), source: file });
    // Shapes first: the head's feature count is checked against them, and the manifest's cloud figures (MACs) need them.
    inferShapes(cloud);
    return sphereFedHead(cloud, { seed });
  } catch (e) {
    if (e instanceof SplitcError && e.code === 'E_SPHEREFED') {
      throw new SplitcError('E_SPHEREFED', `the bundle's cloud part (${m.cloud.model}) does not end in a classifier head: ${e.message}`, { hint: 'split the model before its last Gemm/MatMul, so that the cloud part holds the head' });
    }
    throw e;
  }
}

/** sha256 of the training samples the clients hold, in index order: each float32 image, then its label as one byte. */
function samplesSha256(train: ClientData, parts: readonly (readonly number[])[]): string {
  const n = per(train);
  const hash = createHash('sha256');
  for (const i of [...new Set(parts.flat())].sort((a, b) => a - b)) {
    const img = train.images.subarray(i * n, (i + 1) * n);
    hash.update(new Uint8Array(img.buffer, img.byteOffset, img.byteLength)).update(Uint8Array.of(train.labels[i]!));
  }
  return hash.digest('hex');
}

export interface CalibrationRecord {
  lambda: number;
  secure: boolean;
  seed: number;
  clients: number;
  dataSha256: string;
  describe?: { [key: string]: Json };
  out: string;
}

/** Step (4): W solved from the summed statistics, the cloud model trunk → normalise → W, the new bundle written to `r.out`. */
export function writeCalibratedBundle(bundle: BundleOnDisk, head: SphereFedHead, sum: CalibrationStats, r: CalibrationRecord): { w: Float32Array; written: ReturnType<typeof writeBundleWithCloud> } {
  const w = solveCalibration(sum.V, sum.U, head.dim, head.classes, r.lambda);
  const record: Json = {
    method: 'spherefed-closed-form',
    lambda: r.lambda,
    clients: r.clients,
    samples: sum.n,
    secure: r.secure,
    seed: r.seed,
    dim: head.dim,
    classes: head.classes,
    dataSha256: r.dataSha256,
    ...(r.describe ?? {}),
  };
  return { w, written: writeBundleWithCloud(bundle, r.out, calibratedHead(head.model, w), record) };
}

/** The calibration described above; writes the new bundle to `o.out` and measures both bundles on `o.data.test`. */
export async function calibrateSplitBundle(o: CalibrateSplitOptions): Promise<CalibrateSplitResult> {
  if (!(o.lambda >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `--lambda must be ≥ 0, got ${o.lambda}`, { hint: 'e.g. 1e-3' });
  const batch = o.batch ?? 256;
  if (!(Number.isInteger(batch) && batch >= 1)) throw notAnInteger('batch', 1, batch);
  const bundle = readBundle(o.bundleDir);
  const m = bundle.manifest;
  checkData(m, o.data.train, 'training');
  checkData(m, o.data.test, 'test');

  const head = cloudFeatureHead(bundle, o.seed);
  const { dim, classes } = head;
  const output = m.cloud.outputs[0]!.name;
  const clients = o.parts.map((p, k) => ({ id: clientIds(o.parts.length)[k]!, data: subset(o.data.train, p) })).filter((c) => c.data.n > 0);
  if (clients.length === 0) throw new SplitcError('E_FED_CALIBRATION', 'no client has data to calibrate on');

  const edge = await createOrtSession(ort, bundle.edgeBytes);
  const trunk = await createOrtSession(ort, modelToBytes(head.model));
  const original = await createOrtSession(ort, bundle.cloudBytes);
  let calibratedSession: Session | null = null;
  try {
    // (1)–(3) per client: edge part → cut tensors → cloud trunk → z; the client sums V_k, U_k.
    const local: CalibrationStats[] = [];
    for (const [k, c] of clients.entries()) {
      let s = emptyStats(dim, classes);
      await runEdgeThenCloud(edge, trunk, m.cloud.inputs, c.data, head.features, batch, (z, _dims, start, b) => {
        s = addStats(s, calibrationStats(z, c.data.labels.subarray(start, start + b), b, dim, classes));
      });
      local.push(s);
      o.onClient?.(k + 1, clients.length);
    }
    // (4) the coordinator's sum: in the clear, or of masked uploads whose masks cancel.
    let sum: CalibrationStats;
    let bytesUpPerClient = packedLength(dim, classes) * 8;
    if (o.secure) {
      const keys = await Promise.all(clients.map(() => createMaskingKeys()));
      const peers = clients.map((c, k) => ({ id: c.id, publicKey: keys[k]!.publicKey }));
      const uploads: Uint8Array[] = [];
      for (const [k, c] of clients.entries()) uploads.push(await maskVector(packStats(local[k]!), { id: c.id, privateKey: keys[k]!.privateKey }, peers, 0, MASK_CONTEXT));
      bytesUpPerClient = uploads[0]!.byteLength;
      sum = unpackStats(sumMasked(uploads), dim, classes);
    } else {
      sum = local.reduce((a, s) => addStats(a, s));
    }
    const { w, written } = writeCalibratedBundle(bundle, head, sum, {
      lambda: o.lambda,
      secure: o.secure ?? false,
      seed: o.seed,
      clients: clients.length,
      dataSha256: samplesSha256(o.data.train, o.parts),
      ...(o.describe ? { describe: o.describe } : {}),
      out: o.out,
    });

    calibratedSession = await createOrtSession(ort, path.join(written.outDir, ...m.cloud.model.split('/')));
    const accuracyBefore = await splitAccuracy(edge, original, m.cloud.inputs, o.data.test, output, batch);
    const accuracyAfter = await splitAccuracy(edge, calibratedSession, m.cloud.inputs, o.data.test, output, batch);
    return {
      outDir: written.outDir,
      manifest: written.manifest,
      w,
      stats: sum,
      clients: clients.length,
      samples: sum.n,
      dim,
      classes,
      accuracyBefore,
      accuracyAfter,
      testSamples: o.data.test.n,
      bytesUpPerClient,
      bytesPerSample: { toCloud: m.bytesPerSample.wire, featuresBack: dim * 4 },
    };
  } finally {
    for (const s of [edge, trunk, original, calibratedSession]) await s?.release();
  }
}

export interface FedCalibrateOptions extends DataFlags, PartitionFlags {
  bundle: string;
  lambda?: number;
  secure?: boolean;
  out: string;
  onClient?: (done: number, total: number) => void;
}

/** `splitc fed calibrate` from its flags: the data set, the clients' partition, then calibrateSplitBundle. */
export async function runFedCalibrate(o: FedCalibrateOptions): Promise<CalibrateSplitResult> {
  checkPartitionFlags(o, PARTITION_HINTS);
  checkWholeNumbers([['--clients', o.clients, 1], ['--train-limit', o.trainLimit, 1], ['--test-limit', o.testLimit, 1], ['--seed', o.seed, 0]]);
  const data = loadFedData(o);
  const parts = partitionClients(data.train, o, CLIENTS_HINT);
  return calibrateSplitBundle({
    bundleDir: o.bundle,
    data,
    parts,
    lambda: o.lambda ?? 1e-3,
    secure: o.secure ?? false,
    seed: o.seed,
    out: o.out,
    describe: { data: o.data, partition: o.iid ? { kind: 'iid' } : { kind: 'dirichlet', alpha: o.alpha! } },
    ...(o.onClient ? { onClient: o.onClient } : {}),
  });
}
