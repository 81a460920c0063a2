// SphereFed in the simulation: the head rewrite and training task the rounds run (MSE to
// one-hot on the fixed orthonormal head), and the closed-form calibration after the last
// round (each client's V_k/U_k summed, in the clear or through secure-agg's masks, W solved).

import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { modelToBytes } from '../../ir/serde/io.js';
import { calibratedHead, sphereFedHead } from '../../passes/spherefed.js';
import { cloneModel } from '../../passes/training-graph.js';
import type { OrtModule } from '../train/trainer.js';
import { addStats, type CalibrationStats, featureStats, packedLength, packStats, solveCalibration, unpackStats } from './calibration.js';
import { createMaskingKeys, maskVector, sumMasked } from './secure-agg.js';
import type { TrainingTaskOptions } from './task.js';
import type { ClientData } from './types.js';

export interface SphereFedSimOptions {
  /** Seeds the fixed orthonormal classifier (default: the simulation's seed). */
  seed?: number;
  /** After the last round: the closed-form calibration of the head (absent: the fixed head is kept). */
  calibrate?: {
    /** Ridge term λ of W = (Σ V_k + λI)⁻¹ Σ U_k. */
    lambda: number;
    /** Sum the clients' statistics through pairwise masks (secure-agg.ts) instead of in the clear. */
    secure?: boolean;
  };
  /** Feature batch of the statistics pass (default 256). */
  statsBatch?: number;
}

/** The rewritten model the rounds train and the task options that train it. */
export interface SphereFedSetup {
  /** A copy of the model with SphereFed's head (outputs: scores, features). */
  model: Model;
  task: TrainingTaskOptions;
  features: string;
  scores: string;
  /** The original model's output name (the calibrated model's output). */
  output: string;
  dim: number;
  classes: number;
}

/** The head rewrite on a copy of `model`, and the MSE-to-one-hot task over the pass's params (the fixed matrix stays untrained). */
export function sphereFedSetup(model: Model, task: TrainingTaskOptions, seed: number): SphereFedSetup {
  if (task.loss !== undefined && task.loss !== 'mse-onehot') {
    throw new SplitcError('E_BAD_ARGUMENT', `SphereFed trains with the MSE to one-hot labels, not loss '${task.loss}'`, { hint: "leave task.loss out (or 'mse-onehot')" });
  }
  const output = model.graph.outputs[0]?.name ?? '';
  const head = sphereFedHead(cloneModel(model), { seed });
  return {
    model: head.model,
    task: { ...task, loss: 'mse-onehot', outputName: head.scores, params: head.params },
    features: head.features,
    scores: head.scores,
    output,
    dim: head.dim,
    classes: head.classes,
  };
}

export interface CalibrationResult {
  /** The calibrated inference model (output named as the original model's). */
  model: Model;
  /** The solved W [d, C], row-major. */
  w: Float32Array;
  /** Σ_k of the clients' statistics. */
  stats: CalibrationStats;
  /** Clients whose statistics were summed, by id. */
  clients: string[];
  /** Bytes each client uploads: the packed statistics as float64, or the masked upload. */
  bytesUp: number;
}

/**
 * The calibration: every client with data computes V_k/U_k on the trained sphere model's
 * features, the sums are taken (through masks when `secure`: the coordinator then sees only
 * the sum), W is solved and written into the head. `round` binds the masks to this step.
 */
export async function calibrateSphereFed(
  ort: OrtModule,
  sphereModel: Model,
  setup: SphereFedSetup,
  clients: readonly { id: string; data: ClientData }[],
  opts: SphereFedSimOptions & { calibrate: NonNullable<SphereFedSimOptions['calibrate']> },
  round: number,
): Promise<CalibrationResult> {
  const { dim, classes } = setup;
  const bytes = modelToBytes(sphereModel);
  const batch = opts.statsBatch ?? 256;
  const present = clients.filter((c) => c.data.n > 0);
  if (present.length === 0) throw new SplitcError('E_FED_CALIBRATION', 'no client has data to calibrate on');
  const local: CalibrationStats[] = [];
  for (const c of present) local.push(await featureStats(ort, bytes, setup.features, c.data, batch, classes));
  let sum: CalibrationStats;
  let bytesUp = packedLength(dim, classes) * 8;
  if (opts.calibrate.secure) {
    const keys = await Promise.all(present.map(() => createMaskingKeys()));
    const peers = present.map((c, k) => ({ id: c.id, publicKey: keys[k]!.publicKey }));
    const uploads: Uint8Array[] = [];
    for (let k = 0; k < present.length; k++) {
      uploads.push(await maskVector(packStats(local[k]!), { id: present[k]!.id, privateKey: keys[k]!.privateKey }, peers, round, 'splitc simulate calibration'));
    }
    bytesUp = uploads[0]!.byteLength;
    sum = unpackStats(sumMasked(uploads), dim, classes);
  } else {
    sum = local.reduce((a, s) => addStats(a, s));
  }
  const w = solveCalibration(sum.V, sum.U, dim, classes, opts.calibrate.lambda);
  return { model: calibratedHead(sphereModel, w), w, stats: sum, clients: present.map((c) => c.id), bytesUp };
}
