// `splitc fed serve` as one function: the model (a file, or the built-in ResNet-8), a federated
// coordinator (new, or resumed from its checkpoint folder) served over HTTP until its last round
// closes (SphereFed with --calibrate: until its calibration phase is over), then the final
// inference model and the run's history (history.json).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ioError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import type { CalibrationRecord } from '../runtime/federated/calibration-phase.js';
import { CHECKPOINT_FILE, Coordinator, type CoordinatorOptions, type CoordinatorRound } from '../runtime/federated/coordinator.js';
import type { ClientData } from '../runtime/federated/types.js';
import { weightsBytes } from '../runtime/federated/weights.js';
import { evaluateAccuracy } from '../runtime/train/fit.js';
import { type BoundAddress, createInferenceServer } from '../runtime/server.js';
import { badArgument as badArg } from './diagnostics.js';
import { checkAlgorithmFlags, checkModelAndAlgorithm, checkSgd, checkWholeNumbers, loadFedData } from './fed-options.js';
import { FED_ARCHS, type FedArch, modelOf } from './fed-simulate.js';

export const FED_SERVE_ALGORITHMS = ['fedavg', 'fedprox', 'spherefed'] as const;

export interface FedServeOptions {
  /** An ONNX model file (its first input takes the images, its single output the class scores). */
  modelFile?: string;
  /** The built-in model when no file is given (default 'resnet8': 28×28×1, 10 classes). */
  arch?: FedArch;
  widths?: number[];
  algorithm: (typeof FED_SERVE_ALGORITHMS)[number];
  /** SphereFed's aggregation (default fedavg). */
  base?: 'fedavg' | 'fedprox';
  /** FedProx's μ (default 0.01). */
  mu?: number;
  /** SphereFed: the calibration phase after the last round, with ridge λ (default 1e-3), through pairwise masks when `secure`. */
  calibrate?: boolean;
  lambda?: number;
  secure?: boolean;
  rounds: number;
  minClients: number;
  clientsPerRound?: number;
  /** A round closes this long after it opened if minClients updates are in (default 600 s). */
  deadlineS?: number;
  localEpochs: number;
  batch: number;
  lr: number;
  momentum: number;
  /** Seeds the built-in model's weights, the choice of clients and the clients' batch orders. */
  seed: number;
  /** Checkpoint folder: written after every round; a run resumes when it holds a checkpoint. */
  checkpointDir?: string;
  /**
   * A test set the coordinator holds (server-side evaluation): each round's model, and the
   * final one, are evaluated on it (top-1) for history.json. Its test split only; `testLimit`
   * takes the first N images.
   */
  evalData?: { data: string; dataDir?: string; testLimit?: number };
  /** The bearer token clients must send. */
  token: string;
  port: number;
  host?: string;
  /** Answer CORS for this origin (pages on another origin than the coordinator). */
  corsOrigin?: string;
  /** How long the coordinator keeps answering once done, so polling clients learn it (default 2 s). */
  lingerMs?: number;
  /** Stops the coordinator (SIGTERM): the checkpoint of the last closed round is kept. */
  signal?: AbortSignal;
  onListening?: (address: BoundAddress, resumedRounds: number) => void;
  onRound?: (record: FedServeRound, rounds: number) => void;
  /** The final model and history, as soon as the last round closes (before the linger): the caller writes them. */
  onDone?: (model: Model, history: FedServeHistory) => void;
}

/** One round of fed serve's history.json. */
export interface FedServeRound extends CoordinatorRound {
  /** Seconds since the previous round closed (or the coordinator started); null for rounds closed before a resume. */
  seconds: number | null;
  /** Top-1 on the evaluation set of the round's model (SphereFed: argmax of the fixed head's scores); null without --eval-data, or for rounds closed before a resume. */
  testAccuracy: number | null;
}

/** fed serve's history.json (schema in docs/cli.md). */
export interface FedServeHistory {
  version: 1;
  config: {
    model: string;
    algorithm: (typeof FED_SERVE_ALGORITHMS)[number];
    /** SphereFed only: its aggregation. */
    base?: 'fedavg' | 'fedprox';
    mu: number | null;
    /** SphereFed only: its calibration phase (null: the fixed head is kept). */
    calibration?: { lambda: number; secure: boolean } | null;
    rounds: number;
    minClients: number;
    clientsPerRound: number | null;
    deadlineS: number;
    localEpochs: number;
    batch: number;
    lr: number;
    momentum: number;
    seed: number;
    /** The weights' bytes each way per client and round (the tensors; the bodies add a small JSON header). */
    weightBytes: number;
    /** The evaluation set (--eval-data), or null. */
    evaluation: { data: string; testSamples: number } | null;
  };
  rounds: FedServeRound[];
  /** The top-1 of model.onnx on the evaluation set (SphereFed with calibration: the calibrated model's); null without one. */
  finalTestAccuracy: number | null;
  /** SphereFed with --calibrate: how the calibration phase ended. */
  calibration?: CalibrationRecord;
}

export type FedServeResult = { state: 'done'; model: Model; history: FedServeHistory } | { state: 'stopped'; completed: number; history: FedServeHistory };

/** The bearer token from a file (trimmed), else SPLITC_TOKEN; E_BAD_ARGUMENT when there is none. */
export function readBearerToken(tokenFile: string | undefined, env: Record<string, string | undefined> = process.env): string {
  let token: string | undefined;
  if (tokenFile !== undefined) {
    try {
      token = fs.readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw ioError(`cannot read token file ${tokenFile}`, e);
    }
    if (!token) throw badArg(`token file ${tokenFile} is empty`);
  }
  token ??= env.SPLITC_TOKEN?.trim() || undefined;
  if (token === undefined) throw badArg('the coordinator and its clients need a bearer token', 'pass --token-file FILE (e.g. from `openssl rand -hex 32`) or set SPLITC_TOKEN');
  return token;
}

function checkOptions(o: FedServeOptions): void {
  checkModelAndAlgorithm(o, FED_ARCHS, FED_SERVE_ALGORITHMS);
  checkWholeNumbers([
    ['--rounds', o.rounds, 1],
    ['--min-clients', o.minClients, 1],
    ['--clients-per-round', o.clientsPerRound, 1],
    ['--local-epochs', o.localEpochs, 1],
    ['--batch', o.batch, 1],
    ['--seed', o.seed, 0],
    ['--port', o.port, 0],
    ['--test-limit', o.evalData?.testLimit, 1],
  ]);
  if (o.port > 65535) throw badArg(`--port must be in 0..65535, got ${o.port}`);
  if (o.clientsPerRound !== undefined && o.clientsPerRound < o.minClients) throw badArg(`--clients-per-round ${o.clientsPerRound} is fewer than --min-clients ${o.minClients}`);
  if (o.deadlineS !== undefined && !(o.deadlineS >= 0 && Number.isFinite(o.deadlineS))) throw badArg(`--deadline-s must be ≥ 0, got ${o.deadlineS}`, 'e.g. 600');
  checkSgd(o);
  checkAlgorithmFlags(o);
  if (o.secure && o.minClients < 2) throw badArg('--secure needs --min-clients ≥ 2: alone, the sum is the vector');
  if (o.mu !== undefined && !(o.mu >= 0)) throw badArg(`--mu must be ≥ 0, got ${o.mu}`, 'e.g. 0.01');
}

/**
 * Serves a coordinator until its last round closes, hands the final model and history to
 * `onDone` (the caller writes them), keeps answering for `lingerMs`, and returns; or returns
 * 'stopped' when `signal` aborts it (the last closed round's checkpoint is on disk).
 */
export async function runFedServe(o: FedServeOptions): Promise<FedServeResult> {
  checkOptions(o);
  const { model, name } = modelOf(o, 10);
  const sphere = o.algorithm === 'spherefed';
  const base = sphere ? (o.base ?? 'fedavg') : null;
  const aggregation = base ?? (o.algorithm as 'fedavg' | 'fedprox');
  const mu = aggregation === 'fedprox' ? (o.mu ?? 0.01) : undefined;
  const calibration = o.calibrate ? { lambda: o.lambda ?? 1e-3, secure: o.secure ?? false } : null;
  const deadlineS = o.deadlineS ?? 600;
  const options: Omit<CoordinatorOptions, 'checkpointDir'> & Pick<CoordinatorOptions, 'onRoundClosed'> = {
    rounds: o.rounds,
    minClients: o.minClients,
    deadlineMs: deadlineS * 1000,
    ...(o.clientsPerRound !== undefined ? { clientsPerRound: o.clientsPerRound } : {}),
    local: { epochs: o.localEpochs, lr: o.lr, momentum: o.momentum, seed: o.seed },
    algorithm: aggregation,
    ...(mu !== undefined ? { mu } : {}),
    seed: o.seed,
    ...(sphere ? { sphereFed: { seed: o.seed, ...(calibration ? { calibrate: calibration } : {}) } } : {}),
  };
  const taskOptions = { batchSize: o.batch };
  // server-side evaluation: the test set is read and checked against the model before anything starts
  const evalSet = o.evalData ? evaluationSet(o.evalData, model) : undefined;
  const evaluations = new Map<number, Promise<number>>();
  const evaluate = (m: Model): Promise<number> => evaluateAccuracy(m, evalSet!.images, { ort, inputName: evalSet!.input });
  if (evalSet) {
    options.onRoundClosed = (r, m) => {
      const accuracy = evaluate(m);
      accuracy.catch(() => {}); // awaited (and thrown) when the round is recorded
      evaluations.set(r.round, accuracy);
    };
  }
  const dir = o.checkpointDir;
  if (dir !== undefined) {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw badArg(`--checkpoint ${dir} is a file, not a folder`);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw ioError(`cannot create the checkpoint folder ${dir}`, e);
    }
  }
  const resuming = dir !== undefined && fs.existsSync(path.join(dir, CHECKPOINT_FILE));
  const coordinator = resuming ? await Coordinator.resume(dir, model, taskOptions, options) : Coordinator.create(model, taskOptions, { ...options, ...(dir !== undefined ? { checkpointDir: dir } : {}) });
  const resumed = coordinator.status().completed;
  const history: FedServeHistory = {
    version: 1,
    config: {
      model: name,
      algorithm: o.algorithm,
      ...(base ? { base } : {}),
      mu: mu ?? null,
      ...(sphere ? { calibration } : {}),
      rounds: o.rounds,
      minClients: o.minClients,
      clientsPerRound: o.clientsPerRound ?? null,
      deadlineS,
      localEpochs: o.localEpochs,
      batch: o.batch,
      lr: o.lr,
      momentum: o.momentum,
      seed: o.seed,
      weightBytes: weightsBytes(coordinator.globalWeights()),
      evaluation: evalSet ? { data: o.evalData!.data, testSamples: evalSet.images.n } : null,
    },
    rounds: coordinator.status().history.map((r) => ({ ...r, seconds: null, testAccuracy: null })),
    finalTestAccuracy: null,
  };

  const server = await createInferenceServer({ models: [], token: o.token, federated: coordinator, ...(o.corsOrigin !== undefined ? { corsOrigin: o.corsOrigin } : {}) });
  let address: BoundAddress;
  try {
    address = await server.listen(o.port, o.host ?? '127.0.0.1');
  } catch (e) {
    await server.close();
    throw e;
  }
  o.onListening?.(address, resumed);
  try {
    const stopped = await untilDone(coordinator, history, o, evaluations);
    // the checkpoint must be on disk before the run counts as finished (or stopped)
    await coordinator.flush();
    if (stopped) return { state: 'stopped', completed: coordinator.status().completed, history };
    const final = coordinator.globalModel();
    const calibrated = coordinator.status().calibration;
    if (calibrated) history.calibration = calibrated;
    if (evalSet) history.finalTestAccuracy = await evaluate(final);
    o.onDone?.(final, history);
    // clients polling for the round learn that the federation is done before the coordinator goes
    await sleep(o.lingerMs ?? 2000, o.signal);
    return { state: 'done', model: final, history };
  } finally {
    await server.close();
  }
}

/**
 * The test split of `--eval-data` and the model input it feeds (the one the training task
 * feeds: the first that is not an initializer); E_BAD_ARGUMENT when its images do not have
 * the shape that input takes after the batch axis.
 */
function evaluationSet(o: NonNullable<FedServeOptions['evalData']>, model: Model): { images: ClientData; input: string } {
  const images = loadFedData({ ...o, trainLimit: 1 }).test;
  const input = model.graph.inputs.find((v) => !v.isInitializer());
  const shape = input?.shape?.slice(1) ?? [];
  if (!input || images.shape.join('x') !== shape.join('x')) {
    throw badArg(`--eval-data ${o.data} has images of shape [${images.shape.join(', ')}]; the model takes [${shape.join(', ')}]`, 'evaluate on a data set of the images the model was built for');
  }
  return { images, input: input.name };
}

/** Polls the coordinator (which also closes rounds at their deadline) and records each round as it closes; true when stopped by the signal. */
async function untilDone(coordinator: Coordinator, history: FedServeHistory, o: FedServeOptions, evaluations: Map<number, Promise<number>>): Promise<boolean> {
  let since = performance.now();
  for (;;) {
    if (o.signal?.aborted) return true;
    const status = coordinator.status();
    for (const r of status.history.slice(history.rounds.length)) {
      const now = performance.now();
      const evaluated = evaluations.get(r.round);
      evaluations.delete(r.round);
      const record: FedServeRound = { ...r, seconds: (now - since) / 1000, testAccuracy: evaluated ? await evaluated : null };
      since = now;
      history.rounds.push(record);
      o.onRound?.(record, o.rounds);
    }
    if (status.state === 'done') return false;
    await sleep(100, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
