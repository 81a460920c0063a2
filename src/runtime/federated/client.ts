// A federated client over HTTP: registers with a coordinator, fetches the task once, then per
// round fetches the global weights, trains locally and submits its update; in SphereFed's
// calibration phase it uploads its V_k/U_k (masked when secure). Platform-neutral (fetch,
// WebCrypto, local.ts and the kserve encoders only) so a browser page runs it with onnxruntime-web.

import { KServeClientError } from '../client.js';
import { type EncodedBody, HEADER_LENGTH_HEADER, KServeError } from '../kserve.js';
import type { OrtModule } from '../../search/ort-session.js';
import { type CalibrationStats, emptyStats, featureStats, packStats } from './calibration.js';
import type { RegisteredClient, RoundInfo, SubmitResult } from './coordinator.js';
import { LocalTrainer, type LocalOrt, type LocalSessionOptions } from './local.js';
import type { ClientData, ClientUpdate, TrainingTask, Weights } from './types.js';
import { createMaskingKeys, maskVector, type MaskingKeys } from './secure-agg.js';
import { decodeCalibrationInfo, decodeRound, decodeTask, encodeCalibration, encodeUpdate, toBase64 } from './wire.js';

export interface JoinOptions {
  /** The coordinator's base URL (the server's; routes are under /v2/federated/). */
  url: string;
  /** The server's bearer token. */
  token?: string;
  /** onnxruntime-node or onnxruntime-web. */
  ort: LocalOrt;
  data: ClientData;
  /** The client id to register with (default: the coordinator picks one); an id already registered rejoins with its index. */
  client?: string;
  /**
   * The index that seeds this client's batch orders (default: its registration index).
   * `fed join` passes `--client-index`, so client k trains as a simulation's client k
   * whatever order the clients register in.
   */
  seedIndex?: number;
  /** Called after each round this client trained, with the update it sent. */
  onRound?: (record: ClientRoundRecord, update: ClientUpdate) => void | Promise<void>;
  /** Leave after training this many rounds (default: stay until the federation is done). */
  maxRounds?: number;
  /** How long to wait between polls while not chosen or the round is not open (default 100 ms). */
  pollMs?: number;
  /**
   * How long a call that gets no answer (or 503) is retried, with backoff, before the client
   * gives up (default 30 s): a coordinator restarting from its checkpoint is waited for. After
   * such a gap the client registers again (the same id) and resends an update the coordinator
   * no longer lists for the open round.
   */
  reconnectMs?: number;
  sessionOptions?: LocalSessionOptions;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface ClientRoundRecord {
  round: number;
  samples: number;
  loss: number;
  /** Whether the coordinator averaged the update in; false when the round had closed (a straggler's update, E_FED_ROUND). */
  accepted: boolean;
  /** Whether this update closed the round. */
  closed: boolean;
  /** The update body's bytes, and the round body's (weights and round info). */
  bytesUp: number;
  bytesDown: number;
}

/** One upload of this client's calibration statistics (SphereFed). */
export interface ClientCalibrationRecord {
  /** The phase attempt's round number (rounds + attempt). */
  round: number;
  secure: boolean;
  /** Whether the coordinator took it (false: the attempt had closed, E_FED_ROUND). */
  accepted: boolean;
  /** The upload body's bytes, and the features model's answer. */
  bytesUp: number;
  bytesDown: number;
}

export interface JoinResult extends RegisteredClient {
  task: TrainingTask;
  rounds: ClientRoundRecord[];
  /** SphereFed: the calibration statistics this client uploaded (one per phase attempt it was part of). */
  calibrations: ClientCalibrationRecord[];
  /** The last round info seen ('done' unless maxRounds made the client leave). */
  info: RoundInfo;
  /** The global weights of that round info (the final ones when done). */
  weights: Weights;
}

interface Answer {
  bytes: Uint8Array;
  headerLength: number | undefined;
}

/** Joins a federation and trains until it is done (or maxRounds); throws KServeClientError on a failed call. */
export async function runFederatedClient(opts: JoinOptions): Promise<JoinResult> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const base = opts.url.replace(/\/+$/, '');
  const pollMs = opts.pollMs ?? 100;
  const auth: Record<string, string> = opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {};

  const call = async (method: 'GET' | 'POST', route: string, body?: EncodedBody | string): Promise<Answer> => {
    const headers: Record<string, string> = { ...auth };
    let payload: Blob | string | undefined;
    if (typeof body === 'string') {
      headers['Content-Type'] = 'application/json';
      payload = body;
    } else if (body) {
      headers['Content-Type'] = body.contentType;
      if (body.jsonLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(body.jsonLength);
      payload = new Blob(body.chunks as Uint8Array<ArrayBuffer>[]);
    }
    let res: Response;
    try {
      res = await doFetch(`${base}/v2/federated/${route}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    } catch (e) {
      throw new KServeClientError(0, 'E_NETWORK', `${method} ${route}: no answer from ${base} (${(e as Error).message})`, undefined, e);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) {
      let err: { error?: string; code?: string } | undefined;
      try {
        err = JSON.parse(new TextDecoder().decode(bytes)) as { error?: string; code?: string };
      } catch {
        err = undefined;
      }
      const code = typeof err?.code === 'string' ? err.code : 'E_HTTP';
      throw new KServeClientError(res.status, code, `${method} ${route}: ${res.status} ${err?.error ?? res.statusText}`, err?.error !== undefined ? { error: err.error, code } : undefined);
    }
    const h = res.headers.get(HEADER_LENGTH_HEADER);
    return { bytes, headerLength: h === null ? undefined : Number(h) };
  };
  const decoded = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof KServeError) throw new KServeClientError(502, String(e.code), e.message);
      throw e;
    }
  };

  const reconnectMs = opts.reconnectMs ?? 30_000;
  let reconnected = false;
  /** `call`, retried while the coordinator gives no answer or 503 (restarting, overloaded). */
  const callRetrying = async (method: 'GET' | 'POST', route: string, body?: EncodedBody | string): Promise<Answer> => {
    const started = Date.now();
    for (let wait = 50; ; wait = Math.min(2_000, 2 * wait)) {
      try {
        return await call(method, route, body);
      } catch (e) {
        const retriable = e instanceof KServeClientError && (e.status === 0 || e.status === 503);
        if (!retriable || Date.now() - started + wait > reconnectMs) throw e;
        reconnected = true;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  };
  // A masking key pair for secure calibration, published at registration (the coordinator only
  // relays it); without WebCrypto (a page over plain http) the client registers without one.
  let keys: MaskingKeys | undefined;
  try {
    keys = await createMaskingKeys();
  } catch {
    keys = undefined;
  }
  const register = async (client: string | undefined): Promise<RegisteredClient> => {
    const body = { ...(client !== undefined ? { client } : {}), ...(keys ? { publicKey: toBase64(keys.publicKey) } : {}) };
    return JSON.parse(new TextDecoder().decode((await callRetrying('POST', 'register', JSON.stringify(body))).bytes)) as RegisteredClient;
  };
  /** This client's statistics on the final weights: the same model in every attempt, so computed once. */
  let stats: CalibrationStats | undefined;
  const calibrations: ClientCalibrationRecord[] = [];
  /** Uploads this client's statistics for the calibration attempt `round`. */
  const calibrate = async (round: number): Promise<void> => {
    const answer = await callRetrying('GET', 'calibration');
    const { info, model } = decoded(() => decodeCalibrationInfo(answer.bytes, answer.headerLength));
    if (info.round !== round) return; // the attempt moved on: the next poll sees the new one
    stats ??= opts.data.n > 0 ? await featureStats(opts.ort as unknown as OrtModule, model, info.features, opts.data, info.batch, info.classes) : emptyStats(info.dim, info.classes);
    let upload: Float64Array | Uint8Array = packStats(stats);
    if (info.secure) {
      if (!keys) throw new KServeClientError(0, 'E_SECURE_AGG', 'the calibration is secure, but this client has no masking keys (WebCrypto is not available)');
      const peers = info.participants.map((p) => ({ id: p.client, publicKey: p.publicKey ?? new Uint8Array() }));
      upload = await maskVector(upload as Float64Array, { id: reg.client, privateKey: keys.privateKey }, peers, info.round, info.context);
    }
    const body = encodeCalibration(reg.client, info.round, upload);
    const record: ClientCalibrationRecord = { round: info.round, secure: info.secure, accepted: false, bytesUp: body.byteLength, bytesDown: answer.bytes.length };
    calibrations.push(record);
    try {
      await callRetrying('POST', 'calibration', body);
      record.accepted = true;
    } catch (e) {
      // the attempt closed (its deadline) before the upload came: the next poll shows the new one
      if (!(e instanceof KServeClientError && e.code === 'E_FED_ROUND')) throw e;
    }
  };
  const getRound = async (): Promise<{ info: RoundInfo; weights: Weights; bytes: number }> => {
    const answer = await callRetrying('GET', 'round');
    return { ...decoded(() => decodeRound(task, answer.bytes, answer.headerLength)), bytes: answer.bytes.length };
  };

  let reg = await register(opts.client);
  const taskAnswer = await callRetrying('GET', 'task');
  const task = decoded(() => decodeTask(taskAnswer.bytes, taskAnswer.headerLength));
  const trainer = await LocalTrainer.create(opts.ort, task, opts.sessionOptions);
  const rounds: ClientRoundRecord[] = [];
  /** The last update trained, kept to resend if the coordinator lost it. */
  let last: { update: ClientUpdate; record: ClientRoundRecord } | undefined;
  try {
    for (;;) {
      const { info, weights, bytes } = await getRound();
      if (reconnected) {
        // the coordinator may have restarted from a checkpoint older than this client's registration
        reconnected = false;
        reg = await register(reg.client);
        continue;
      }
      if (info.state === 'calibrating') {
        // owed while the coordinator does not list it (after a restart the phase begins again: sent again)
        const owes = (info.participants?.includes(reg.client) ?? false) && !info.submitted.includes(reg.client);
        if (owes) {
          await calibrate(info.round);
        } else {
          await new Promise((resolve) => setTimeout(resolve, pollMs));
        }
        continue;
      }
      const owes = info.state === 'open' && (info.participants?.includes(reg.client) ?? false) && !info.submitted.includes(reg.client);
      const resend = owes && last?.update.round === info.round;
      if (info.state === 'done' || (!resend && opts.maxRounds !== undefined && rounds.length >= opts.maxRounds)) {
        return { ...reg, task, rounds, calibrations, info, weights };
      }
      if (!owes) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        continue;
      }
      if (!resend) {
        const update = await trainer.train(weights, opts.data, info.local, { client: reg.client, round: info.round, index: opts.seedIndex ?? reg.index });
        const record: ClientRoundRecord = { round: info.round, samples: update.samples, loss: update.loss, accepted: false, closed: false, bytesUp: 0, bytesDown: bytes };
        last = { update, record };
        rounds.push(record);
      }
      const { update, record } = last!;
      const body = encodeUpdate(task, update);
      record.bytesUp += body.byteLength;
      try {
        const result = JSON.parse(new TextDecoder().decode((await callRetrying('POST', 'update', body)).bytes)) as SubmitResult;
        record.accepted = true;
        record.closed = result.closed;
      } catch (e) {
        // the round closed (at its deadline) before the update came: it is dropped, the next round goes on
        if (!(e instanceof KServeClientError && e.code === 'E_FED_ROUND')) throw e;
      }
      if (!resend) await opts.onRound?.(record, update);
    }
  } finally {
    await trainer.release();
  }
}
