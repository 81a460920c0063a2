// The federated coordinator's round state machine, independent of HTTP: registration, which
// clients train each round, the checks an update passes, FedAvg when a round closes (every
// chosen client in, or the deadline with enough of them), and a checkpoint after each round;
// with SphereFed, the head rewrite and the calibration phase after the last round.

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { modelToBytes } from '../../ir/serde/io.js';
import { writeFileAtomic } from '../../ir/temp-files.js';
import { calibratedHead } from '../../passes/spherefed.js';
import { fedAvg, validateUpdate } from './aggregate.js';
import { CALIBRATION_CONTEXT, CalibrationPhase, type CalibrationRecord } from './calibration-phase.js';
import { solveCalibration } from './calibration.js';
import { sphereFedSetup, type SphereFedSetup } from './spherefed-sim.js';
import { chooseClients } from './simulate.js';
import { applyWeights, initialWeights, trainingTaskOf, type TrainingTaskOptions } from './task.js';
import { federatedRoutes, type FederatedRouteDeps } from '../server/federated-routes.js';
import type { Route } from '../server/routes.js';
import type { ClientUpdate, LocalOptions, TrainingTask, Weights } from './types.js';
import { checkWeights, taskTensors } from './weights.js';

export interface CoordinatorOptions {
  /** Rounds to run; the federation is 'done' after the last closes. */
  rounds: number;
  /** A round opens once this many clients are registered, and closes at its deadline only with this many updates. */
  minClients: number;
  /** How long after opening a round closes, if at least minClients updates are in (else it keeps waiting). */
  deadlineMs: number;
  /** Clients chosen per round among those registered when it opens (default: all of them; at least minClients). */
  clientsPerRound?: number;
  /** How clients train: sent with each round (FedProx's μ is set from `algorithm`/`mu`). */
  local: LocalOptions;
  algorithm: 'fedavg' | 'fedprox';
  /** FedProx's μ (default `local.mu`). */
  mu?: number;
  /** Reject an update whose ‖w − w_global‖₂ (all tensors, float64) exceeds this (default: only non-finite values are rejected). */
  maxUpdateNorm?: number;
  /** Where the checkpoint is written after every round (coordinator.json; nothing else in it is touched). */
  checkpointDir?: string;
  /** Seeds the choice of clients per round. */
  seed: number;
  /** Most clients that may register (default 10,000): registrations are memory. */
  maxClients?: number;
  /** The clock (ms since the epoch); tests move it by hand. */
  now?: () => number;
  /**
   * Called as each round closes, with its record and the model it produced (inference form;
   * SphereFed: the fixed head, outputs scores and features), e.g. to evaluate it on a test set
   * held by the coordinator. Synchronous: keep it cheap (start the work, do not await it here).
   */
  onRoundClosed?: (round: CoordinatorRound, model: Model) => void;
  /**
   * SphereFed on top of `algorithm`: the rounds train sphereFedSetup's model (MSE to one-hot
   * on the fixed head seeded by `seed`); with `calibrate`, a calibration phase follows the last
   * round (state 'calibrating'; calibration-phase.ts) and the final model has the solved head.
   */
  sphereFed?: { seed: number; calibrate?: { lambda: number; secure?: boolean; statsBatch?: number } };
}

/** What a client needs for the calibration phase (GET /v2/federated/calibration, with the features model's ONNX bytes). */
export interface CalibrationInfo {
  /** The attempt's round number (rounds + attempt): the masks are bound to it. */
  round: number;
  /** The features output of the model sent (z [N, d]). */
  features: string;
  dim: number;
  classes: number;
  /** The statistics pass's batch. */
  batch: number;
  secure: boolean;
  /** The attempt's participants, sorted; when secure, each with its ECDH public key (relayed as registered). */
  participants: { client: string; publicKey?: Uint8Array }[];
  /** The context string of the masks. */
  context: string;
}

export interface RegisteredClient {
  client: string;
  /** Registration order, 0, 1, …: the client's index in its batch-order seed (localSeed). */
  index: number;
}

export interface RoundInfo {
  /** The round being trained (1-based); when 'done', the last round. */
  round: number;
  /** 'calibrating': SphereFed's calibration phase after the last round (round = rounds + attempt; participants, submitted and deadline are the phase's). */
  state: 'open' | 'calibrating' | 'done';
  /** Rounds closed so far. */
  completed: number;
  rounds: number;
  /** When the round closes (ms since the epoch, if ≥ minClients updates are in); null until it opens (minClients registered). */
  deadline: number | null;
  /** The clients chosen to train this round; null until it opens. */
  participants: string[] | null;
  /** Chosen clients whose update is in, sorted: a client not listed (after a coordinator restart, say) sends its update again. */
  submitted: string[];
  /** How to train this round. */
  local: LocalOptions;
}

export interface CoordinatorRound {
  round: number;
  /** Clients whose updates were averaged in, sorted. */
  clients: string[];
  /** Chosen clients that sent nothing before the round closed. */
  stragglers: string[];
  samples: number;
  /** Mean last-epoch training loss of the averaged updates, weighted by samples. */
  loss: number;
  closedBy: 'all-in' | 'deadline';
}

export interface SubmitResult {
  round: number;
  /** Whether this update closed the round. */
  closed: boolean;
}

export interface CoordinatorStatus {
  round: number;
  state: RoundInfo['state'];
  completed: number;
  rounds: number;
  registered: number;
  participants: string[] | null;
  /** Clients whose update for the current round is in. */
  submitted: string[];
  history: CoordinatorRound[];
  /** SphereFed: how the calibration phase ended (absent until it has). */
  calibration?: CalibrationRecord;
  /** SphereFed: why the last calibration attempt could not be solved (a new attempt opened). */
  calibrationError?: string;
  /** Why the last checkpoint could not be written (cleared when one is). */
  checkpointError?: string;
}

/** The checkpoint's file name in checkpointDir. */
export const CHECKPOINT_FILE = 'coordinator.json';
const CHECKPOINT_FORMAT = 'splitc-federated-coordinator';
const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  completed: number;
  clients: RegisteredClient[];
  history: CoordinatorRound[];
  /** Each tensor's float32 bytes, base64 (exact). */
  weights: Record<string, { dims: number[]; base64: string }>;
}

const conflict = (why: string, hint?: string): SplitcError => new SplitcError('E_FED_ROUND', why, hint ? { hint } : {});

export class Coordinator {
  readonly task: TrainingTask;
  private global: Weights;
  private completed = 0;
  private readonly clients: RegisteredClient[] = [];
  private readonly byId = new Map<string, RegisteredClient>();
  private readonly history: CoordinatorRound[] = [];
  /** The current round once open. */
  private open: { deadline: number; participants: string[]; updates: Map<string, ClientUpdate> } | null = null;
  /** Calibration statistics per round and client (SphereFed). */
  private readonly calibration = new Map<number, Map<string, Float64Array>>();
  private readonly local: LocalOptions;
  private readonly now: () => number;
  private saveError: SplitcError | undefined;
  /** SphereFed: ECDH public keys clients sent at registration (relayed to the calibration's participants, never used here). */
  private readonly publicKeys = new Map<string, Uint8Array>();
  private readonly phase: CalibrationPhase | null;
  private calibrated: { model: Model; w: Float32Array; record: CalibrationRecord } | null = null;
  private calibrationError: string | undefined;
  /** The features model's bytes with the final weights, built once when the phase starts. */
  private featuresModel: Uint8Array | undefined;

  private constructor(
    task: TrainingTask,
    global: Weights,
    /** The model the rounds train (SphereFed: the rewritten head), in inference form. */
    private readonly model: Model,
    private readonly sphere: SphereFedSetup | null,
    readonly options: CoordinatorOptions,
  ) {
    this.task = task;
    this.global = global;
    this.now = options.now ?? Date.now;
    const cal = options.sphereFed?.calibrate;
    if (cal && !(cal.lambda >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `calibration needs λ ≥ 0, got ${cal.lambda}`, { hint: 'e.g. lambda: 1e-3' });
    this.phase =
      cal && sphere
        ? new CalibrationPhase({ rounds: options.rounds, dim: sphere.dim, classes: sphere.classes, secure: cal.secure ?? false, minClients: options.minClients, deadlineMs: options.deadlineMs, now: this.now })
        : null;
    const mu = options.algorithm === 'fedprox' ? (options.mu ?? options.local.mu) : 0;
    const badArg = (why: string, hint: string): SplitcError => new SplitcError('E_BAD_ARGUMENT', why, { hint });
    const whole = (v: number | undefined, min: number): boolean => v !== undefined && Number.isInteger(v) && v >= min;
    if (!whole(options.rounds, 1)) throw badArg(`rounds must be a whole number ≥ 1, got ${options.rounds}`, 'e.g. rounds: 10');
    if (!whole(options.minClients, 1)) throw badArg(`minClients must be a whole number ≥ 1, got ${options.minClients}`, 'e.g. minClients: 2');
    if (!(options.deadlineMs >= 0)) throw badArg(`deadlineMs must be ≥ 0, got ${options.deadlineMs}`, 'e.g. deadlineMs: 60000');
    if (options.clientsPerRound !== undefined && !whole(options.clientsPerRound, options.minClients)) {
      throw badArg(`clientsPerRound must be a whole number ≥ minClients (${options.minClients}), got ${options.clientsPerRound}`, 'or leave it out: every registered client trains');
    }
    if (options.algorithm === 'fedprox' && !(mu !== undefined && mu >= 0)) throw badArg(`FedProx needs μ ≥ 0, got ${mu}`, 'e.g. mu: 0.01');
    if (options.algorithm === 'fedavg' && ((options.mu ?? 0) !== 0 || (options.local.mu ?? 0) !== 0)) throw badArg('FedAvg has no proximal term μ', "use algorithm 'fedprox' for μ > 0");
    if (options.maxUpdateNorm !== undefined && !(options.maxUpdateNorm > 0)) throw badArg(`maxUpdateNorm must be > 0, got ${options.maxUpdateNorm}`, 'or leave it out');
    this.local = { ...options.local, mu: mu ?? 0 };
  }

  /** A coordinator whose round 1 starts from the forward model's weights (the task is built once, here). */
  static create(model: Model, taskOptions: TrainingTaskOptions, options: CoordinatorOptions): Coordinator {
    const { trained, sphere, task, graph } = Coordinator.setup(model, taskOptions, options);
    return new Coordinator(task, initialWeights(graph), trained, sphere, options);
  }

  /** The model the rounds train and its task: SphereFed's rewrite of `model` when asked. */
  private static setup(model: Model, taskOptions: TrainingTaskOptions, options: Pick<CoordinatorOptions, 'sphereFed'>) {
    const sphere = options.sphereFed ? sphereFedSetup(model, taskOptions, options.sphereFed.seed) : null;
    const trained = sphere?.model ?? model;
    return { trained, sphere, ...trainingTaskOf(trained, sphere?.task ?? taskOptions) };
  }

  /**
   * A coordinator continuing from the checkpoint in `checkpointDir` (written by one built from
   * the same model and task options): its global weights, rounds closed, history and
   * registered clients. The round after the last closed one opens afresh.
   */
  static async resume(checkpointDir: string, model: Model, taskOptions: TrainingTaskOptions, options: Omit<CoordinatorOptions, 'checkpointDir'>): Promise<Coordinator> {
    const file = path.join(checkpointDir, CHECKPOINT_FILE);
    const bad = (why: string, cause?: unknown): SplitcError =>
      new SplitcError('E_FED_CHECKPOINT', `${file}: ${why}`, { hint: 'resume from the directory a coordinator of this model and task wrote', ...(cause ? { cause } : {}) });
    let cp: Checkpoint;
    try {
      cp = JSON.parse(await fs.readFile(file, 'utf8')) as Checkpoint;
    } catch (e) {
      throw bad(`cannot read the checkpoint (${(e as Error).message})`, e);
    }
    if (cp?.format !== CHECKPOINT_FORMAT || cp.version !== 1) throw bad('is not a coordinator checkpoint of version 1');
    const { task, trained, sphere } = Coordinator.setup(model, taskOptions, options);
    const weights: Weights = new Map();
    for (const spec of taskTensors(task)) {
      const t = cp.weights?.[spec.name];
      if (!t || typeof t.base64 !== 'string') throw bad(`has no tensor '${spec.name}' the task trains`);
      const bytes = Buffer.from(t.base64, 'base64');
      if (bytes.length % 4 !== 0) throw bad(`tensor '${spec.name}' is not float32 data`);
      // copy into a fresh, aligned buffer
      weights.set(spec.name, new Float32Array(new Uint8Array(bytes).buffer));
    }
    try {
      checkWeights(task, weights, 'the checkpoint');
    } catch (e) {
      throw bad((e as Error).message, e);
    }
    const wellFormed = Number.isInteger(cp.completed) && cp.completed >= 0 && Array.isArray(cp.history) && Array.isArray(cp.clients) && cp.clients.every((r, k) => r?.index === k && CLIENT_ID.test(String(r?.client)));
    if (!wellFormed) throw bad('has a malformed round count, history or client list');
    const c = new Coordinator(task, weights, trained, sphere, { ...options, checkpointDir });
    c.completed = cp.completed;
    for (const r of cp.clients) c.addClient(r.client);
    c.history.push(...cp.history);
    return c;
  }

  /** Registers a client (a known id registers again: a client rejoining after a restart or disconnect keeps its index). */
  register(client?: string, publicKey?: Uint8Array): RegisteredClient {
    if (publicKey !== undefined && !(publicKey instanceof Uint8Array && publicKey.length === 65 && publicKey[0] === 4)) {
      throw new SplitcError('E_BAD_ARGUMENT', 'a public key is a raw uncompressed P-256 point (65 bytes, starting 0x04)', { hint: 'secure-agg.ts createMaskingKeys().publicKey, base64' });
    }
    const keyed = (r: RegisteredClient): RegisteredClient => {
      // a client registering again (a restart) may bring a new key: it replaces the old one
      if (publicKey !== undefined) this.publicKeys.set(r.client, publicKey.slice());
      return { ...r };
    };
    if (client !== undefined) {
      if (typeof client !== 'string' || !CLIENT_ID.test(client)) {
        throw new SplitcError('E_BAD_ARGUMENT', `client id ${JSON.stringify(String(client).slice(0, 80))} must be 1–64 letters, digits, '.', '_' or '-'`);
      }
      const known = this.byId.get(client);
      if (known) return keyed(known);
    }
    if (this.clients.length >= (this.options.maxClients ?? 10_000)) throw conflict(`the federation is full (${this.clients.length} clients)`);
    let id = client;
    for (let k = this.clients.length; id === undefined || this.byId.has(id); k++) id = `client-${k}`;
    // the round opens on the next roundInfo/submit, so clients registering together train together
    return keyed(this.addClient(id));
  }

  /** The current round; it opens (or closes at its deadline) on the way. */
  roundInfo(): RoundInfo {
    this.tick();
    const done = this.done;
    const phase = this.calibrating ? this.phase! : null;
    if (phase) {
      return {
        round: phase.round,
        state: 'calibrating',
        completed: this.completed,
        rounds: this.options.rounds,
        deadline: phase.deadline,
        participants: phase.participants ? [...phase.participants] : null,
        submitted: [...phase.uploads.keys()].sort(),
        local: { ...this.local },
      };
    }
    return {
      round: done ? this.options.rounds : this.completed + 1,
      state: done ? 'done' : 'open',
      completed: this.completed,
      rounds: this.options.rounds,
      deadline: this.open?.deadline ?? null,
      participants: this.open ? [...this.open.participants] : null,
      submitted: this.open ? [...this.open.updates.keys()].sort() : [],
      local: { ...this.local },
    };
  }

  /** The global weights: round `roundInfo().round`'s starting point, or the final weights when done. Not to be mutated. */
  globalWeights(): Weights {
    return this.global;
  }

  /**
   * Accepts a chosen client's update for the open round, or throws: E_FED_ROUND (unknown
   * client, not chosen, stale or future round, duplicate, federation done) or E_FED_UPDATE
   * (tensors, sample count, loss or norm). The update is kept (not copied) until the round
   * closes; a round it closes is checkpointed before this resolves.
   */
  async submit(update: ClientUpdate): Promise<SubmitResult> {
    this.tick();
    const who = `client ${String(update.client).slice(0, 80)}`;
    if (!this.byId.has(update.client)) throw conflict(`${who} is not registered`, 'register first (POST /v2/federated/register)');
    if (this.done) throw conflict(`${who}'s update for round ${update.round} came after the last round closed`);
    const current = this.completed + 1;
    if (update.round !== current) {
      throw conflict(`${who}'s update is for round ${update.round}, the open round is ${current}${update.round < current ? ' (stale: that round has closed)' : ''}`, 'fetch the current round and train from its weights');
    }
    const open = this.open;
    if (!open) throw conflict(`round ${current} has not opened yet (it waits for ${this.options.minClients} clients)`);
    if (!open.participants.includes(update.client)) throw conflict(`${who} is not chosen for round ${current}`);
    if (open.updates.has(update.client)) throw conflict(`${who} already sent its update for round ${current}`);
    validateUpdate(this.task, update, current);
    this.checkNorm(update);
    open.updates.set(update.client, update);
    // a checkpoint that fails is the operator's problem (flush, status), not this client's
    return { round: current, closed: this.tick() };
  }

  /**
   * The final model in inference form: the trained model with the global weights (SphereFed
   * with calibration, once the phase is over: the calibrated head, named as the original output).
   */
  globalModel(): Model {
    this.tick();
    return this.calibrated?.model ?? applyWeights(this.model, this.global);
  }

  /** SphereFed: the solved W [d, C] (row-major) of the calibrated head, once the phase is over. */
  calibratedW(): Float32Array | null {
    return this.calibrated?.w ?? null;
  }

  /** The calibration phase's current attempt and the features model (ONNX bytes, final weights); E_FED_ROUND outside the phase or before it opens. */
  calibrationInfo(): { info: CalibrationInfo; model: Uint8Array } {
    this.tick();
    const phase = this.phase;
    if (!phase || !this.calibrating) throw conflict(this.phase ? 'the federation is not in its calibration phase' : 'this federation has no calibration phase', 'poll GET /v2/federated/round for state "calibrating"');
    if (!phase.participants) throw conflict('the calibration phase has not opened yet (too few clients)');
    const sphere = this.sphere!;
    const secure = phase.options.secure;
    this.featuresModel ??= modelToBytes(applyWeights(this.model, this.global));
    return {
      info: {
        round: phase.round,
        features: sphere.features,
        dim: sphere.dim,
        classes: sphere.classes,
        batch: this.options.sphereFed?.calibrate?.statsBatch ?? 256,
        secure,
        participants: phase.participants.map((client) => (secure ? { client, publicKey: this.publicKeys.get(client)! } : { client })),
        context: CALIBRATION_CONTEXT,
      },
      model: this.featuresModel,
    };
  }

  /**
   * Stores a client's packed SphereFed statistics (calibration.ts packStats; masked bytes when
   * secure). A coordinator with a calibration phase accepts them only in it, from its
   * participants (calibration-phase.ts); one without keeps them per round (once per client and
   * round; the same length as the round's others, finite values).
   */
  submitCalibration(client: string, round: number, stats: Float64Array | Uint8Array): void {
    if (!this.byId.has(client)) throw conflict(`client ${String(client).slice(0, 80)} is not registered`);
    if (this.phase) {
      this.tick();
      if (!this.calibrating) throw conflict(`calibration statistics from client ${client} outside the calibration phase (${this.done ? 'it is over' : `round ${this.completed + 1} is training`})`);
      this.phase.submit(client, round, stats);
      this.tick();
      return;
    }
    if (!(stats instanceof Float64Array)) throw new SplitcError('E_FED_UPDATE', `client ${client}'s calibration statistics are masked, but this federation has no secure calibration`);
    if (!Number.isInteger(round) || round < 1 || round > this.options.rounds) throw conflict(`calibration statistics for round ${round}, not one of 1…${this.options.rounds}`);
    const perRound = this.calibration.get(round) ?? new Map<string, Float64Array>();
    if (perRound.has(client)) throw conflict(`client ${client} already sent calibration statistics for round ${round}`);
    const other = perRound.values().next().value;
    if (stats.length === 0 || (other && other.length !== stats.length)) {
      throw new SplitcError('E_FED_UPDATE', `client ${client}'s calibration statistics have ${stats.length} values${other ? `, the round's others ${other.length}` : ''}`);
    }
    for (let i = 0; i < stats.length; i++) if (!Number.isFinite(stats[i]!)) throw new SplitcError('E_FED_UPDATE', `client ${client}'s calibration statistics have a value that is not finite (element ${i})`);
    perRound.set(client, stats);
    this.calibration.set(round, perRound);
  }

  /** The calibration statistics received for a round, by client (with a calibration phase: its current attempt's uploads, masked bytes when secure). */
  calibrationStats(round: number): ReadonlyMap<string, Float64Array | Uint8Array> {
    if (this.phase) return round === this.phase.round ? new Map(this.phase.uploads) : new Map();
    return this.calibration.get(round) ?? new Map();
  }

  status(): CoordinatorStatus {
    const info = this.roundInfo();
    return {
      round: info.round,
      state: info.state,
      completed: this.completed,
      rounds: this.options.rounds,
      registered: this.clients.length,
      participants: info.participants,
      submitted: info.submitted,
      history: this.history.map((r) => ({ ...r })),
      ...(this.calibrated ? { calibration: { ...this.calibrated.record } } : {}),
      ...(this.calibrationError !== undefined ? { calibrationError: this.calibrationError } : {}),
      ...(this.saveError !== undefined ? { checkpointError: this.saveError.message } : {}),
    };
  }

  /**
   * The coordinator's HTTP endpoints (server/federated-routes.ts), which createInferenceServer
   * mounts for its `federated` option. Reached through the coordinator so that the server
   * imports none of it: servers without one (a bundle's cloud server) do not carry it.
   */
  routes(deps: FederatedRouteDeps): Route[] {
    return federatedRoutes(this, deps);
  }

  /** Throws (E_IO) if the last checkpoint could not be written. */
  async flush(): Promise<void> {
    if (this.saveError !== undefined) throw this.saveError;
  }

  private get done(): boolean {
    return this.completed >= this.options.rounds;
  }

  /** SphereFed with calibration: the rounds are over and the phase is not. */
  private get calibrating(): boolean {
    return this.phase !== null && this.done && this.calibrated === null;
  }

  /** Advances the calibration phase; when it is over, solves W and writes the calibrated head. */
  private tickCalibration(): void {
    const phase = this.phase!;
    const eligible = this.clients.map((c) => c.client).filter((c) => !phase.options.secure || this.publicKeys.has(c));
    const closed = phase.tick(eligible);
    if (!closed) return;
    const { dim, classes } = this.sphere!;
    try {
      const w = solveCalibration(closed.sum.V, closed.sum.U, dim, classes, this.options.sphereFed!.calibrate!.lambda);
      this.calibrated = { model: calibratedHead(applyWeights(this.model, this.global), w), w, record: closed.record };
      this.calibrationError = undefined;
    } catch (e) {
      if (!(e instanceof SplitcError)) throw e;
      // e.g. Σ V_k + λI singular with λ = 0: another attempt, with the clients registered by then
      this.calibrationError = e.message;
      phase.open(eligible);
    }
  }

  private addClient(client: string): RegisteredClient {
    const r = { client, index: this.clients.length };
    this.clients.push(r);
    this.byId.set(client, r);
    return r;
  }

  /** Opens the round once enough clients are registered, and closes it when it is due; returns whether it closed one. */
  private tick(): boolean {
    if (this.calibrating) this.tickCalibration();
    if (this.done) return false;
    const o = this.options;
    if (!this.open) {
      if (this.clients.length < o.minClients) return false;
      const round = this.completed + 1;
      const chosen = chooseClients(this.clients.length, o.clientsPerRound ?? this.clients.length, o.seed, round);
      this.open = { deadline: this.now() + o.deadlineMs, participants: chosen.map((k) => this.clients[k]!.client), updates: new Map() };
      return false;
    }
    const { updates, participants, deadline } = this.open;
    const allIn = updates.size === participants.length;
    if (!allIn && !(this.now() >= deadline && updates.size >= o.minClients)) return false;
    this.close(allIn ? 'all-in' : 'deadline');
    return true;
  }

  private close(closedBy: CoordinatorRound['closedBy']): void {
    const { updates, participants } = this.open!;
    const accepted = [...updates.values()];
    const samples = accepted.reduce((a, u) => a + u.samples, 0);
    this.global = fedAvg(accepted);
    this.completed++;
    this.history.push({
      round: this.completed,
      clients: [...updates.keys()].sort(),
      stragglers: participants.filter((c) => !updates.has(c)).sort(),
      samples,
      loss: accepted.reduce((a, u) => a + u.samples * u.loss, 0) / samples,
      closedBy,
    });
    this.open = null;
    this.saveCheckpoint();
    this.options.onRoundClosed?.(this.history.at(-1)!, applyWeights(this.model, this.global));
    // the next round may open at once (its clients are registered)
    this.tick();
  }

  private checkNorm(update: ClientUpdate): void {
    const max = this.options.maxUpdateNorm;
    if (max === undefined) return;
    let sq = 0;
    for (const [name, w] of update.weights) {
      const g = this.global.get(name)!;
      for (let i = 0; i < w.length; i++) {
        const d = w[i]! - g[i]!;
        sq += d * d;
      }
    }
    const norm = Math.sqrt(sq);
    if (!(norm <= max)) {
      throw new SplitcError('E_FED_UPDATE', `client ${update.client}'s update moves the weights by ‖w − w_global‖₂ = ${norm.toPrecision(4)}, more than the limit ${max}`, {
        hint: 'lower the learning rate or local epochs, or raise maxUpdateNorm',
      });
    }
  }

  /** Writes the state after a round (writeFileAtomic: a crash leaves the previous checkpoint whole); a failure is kept for status() and flush(). */
  private saveCheckpoint(): void {
    const dir = this.options.checkpointDir;
    if (dir === undefined) return;
    const weights: Checkpoint['weights'] = {};
    for (const spec of taskTensors(this.task)) {
      const w = this.global.get(spec.name)!;
      weights[spec.name] = { dims: spec.dims, base64: Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString('base64') };
    }
    const cp: Checkpoint = { format: CHECKPOINT_FORMAT, version: 1, completed: this.completed, clients: this.clients.map((c) => ({ ...c })), history: this.history.map((r) => ({ ...r })), weights };
    try {
      writeFileAtomic(path.join(dir, CHECKPOINT_FILE), JSON.stringify(cp), { what: "the coordinator's checkpoint" });
      this.saveError = undefined;
    } catch (e) {
      this.saveError = e instanceof SplitcError ? e : new SplitcError('E_IO', `cannot write the coordinator's checkpoint in ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }
}
