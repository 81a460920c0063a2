// The federated protocol's bodies, all in the KServe v2 layout (JSON header, then raw tensor
// bytes, Inference-Header-Content-Length): the task, a round's weights, an update, the
// calibration phase and calibration statistics. Platform-neutral (the browser client uses it): the kserve encoders/decoders only.

import { SplitcError } from '../../ir/errors.js';
import {
  type DecodedRequest,
  decodeInferResponse,
  type EncodedBody,
  encodeInferRequest,
  encodeInferResponse,
  type InputHeader,
  type WireTensor,
} from '../kserve.js';
import type { CalibrationInfo, RoundInfo } from './coordinator.js';
import type { ClientUpdate, TrainingTask, Weights } from './types.js';
import { elementCount, taskTensors } from './weights.js';

/** Names of the tensors that are not weights; the prefix cannot clash with a weight (ONNX names of the task are checked). */
export const TASK_TENSOR = 'federated:task';
export const GRAPH_TENSOR = 'federated:graph';
export const ROUND_TENSOR = 'federated:round';
export const STATS_TENSOR = 'federated:stats';
/** Masked calibration statistics (secure-agg.ts maskVector's bytes). */
export const MASKED_TENSOR = 'federated:masked';
export const CALIBRATION_TENSOR = 'federated:calibration';
export const MODEL_TENSOR = 'federated:model';
/** The model_name of the coordinator's answers. */
export const FEDERATED_MODEL = 'federated';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

const jsonTensor = (name: string, value: unknown): WireTensor => ({ name, datatype: 'BYTES', shape: [1], data: [utf8.encode(JSON.stringify(value))] });

function readJsonTensor(t: WireTensor | undefined, what: string): unknown {
  if (!t || t.datatype !== 'BYTES' || t.data.length !== 1) throw malformed(`the answer has no ${what}`);
  try {
    return JSON.parse(fromUtf8.decode((t.data as Uint8Array[])[0]!));
  } catch {
    throw malformed(`the answer's ${what} is not JSON`);
  }
}

const malformed = (why: string): SplitcError => new SplitcError('E_RESPONSE_MALFORMED', `the coordinator's answer is malformed: ${why}`);

/** The weights as FP32 tensors of the task's shapes, in the task's order (views, no copies). */
export function weightsToWire(task: TrainingTask, weights: Weights): WireTensor[] {
  return taskTensors(task).map((s) => ({ name: s.name, datatype: 'FP32', shape: s.dims, data: weights.get(s.name)! }));
}

/**
 * The weights carried by `tensors` (other names skipped when `skip` says so): exactly the
 * task's tensors, FP32, of its shapes, or E_FED_UPDATE. Copies (a body's views must not be kept).
 */
export function weightsFromWire(task: TrainingTask, tensors: readonly WireTensor[], what: string, skip: (name: string) => boolean = () => false): Weights {
  const bad = (why: string): SplitcError => new SplitcError('E_FED_UPDATE', `${what} ${why}`, { hint: 'send every parameter and running statistic of the task as FP32 tensors of its shapes' });
  const specs = new Map(taskTensors(task).map((s) => [s.name, s.dims]));
  const weights: Weights = new Map();
  for (const t of tensors) {
    if (skip(t.name)) continue;
    const dims = specs.get(t.name);
    const name = JSON.stringify(t.name.slice(0, 100));
    if (!dims) throw bad(`has a tensor ${name} the task does not train`);
    if (t.datatype !== 'FP32') throw bad(`has ${name} as ${t.datatype}, not FP32`);
    if (t.shape.length !== dims.length || t.shape.some((d, i) => d !== dims[i])) throw bad(`has ${name} of shape [${t.shape.join(', ')}], the task's is [${dims.join(', ')}]`);
    weights.set(t.name, (t.data as Float32Array).slice());
  }
  for (const name of specs.keys()) if (!weights.has(name)) throw bad(`lacks the tensor '${name}'`);
  return weights;
}

/**
 * A server's check of an update's declared tensors before their data is read: known names,
 * FP32, the task's element counts. Returns the bytes they carry (the body's bound).
 */
export function checkDeclaredWeights(task: TrainingTask, inputs: readonly InputHeader[]): number {
  const counts = new Map(taskTensors(task).map((s) => [s.name, elementCount(s.dims)]));
  let bytes = 0;
  for (const t of inputs) {
    const name = JSON.stringify(t.name.slice(0, 100));
    const n = counts.get(t.name);
    if (n === undefined) throw new SplitcError('E_FED_UPDATE', `the update has a tensor ${name} the task does not train`);
    if (t.datatype !== 'FP32') throw new SplitcError('E_FED_UPDATE', `the update has ${name} as ${t.datatype}, not FP32`);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) throw new SplitcError('E_FED_UPDATE', `the update has ${name} with a malformed shape`);
    const count = elementCount(shape as number[]);
    if (count !== n) throw new SplitcError('E_FED_UPDATE', `the update has ${count} elements in ${name}, the task ${n}`);
    bytes += 4 * count;
  }
  return bytes;
}

// -- the task: GET /v2/federated/task --

export function encodeTask(task: TrainingTask): EncodedBody {
  const { graph, ...meta } = task;
  return encodeInferResponse([jsonTensor(TASK_TENSOR, meta), { name: GRAPH_TENSOR, datatype: 'UINT8', shape: [graph.length], data: graph }], { modelName: FEDERATED_MODEL, binaryOutputs: true });
}

export function decodeTask(body: Uint8Array, headerLength: number | undefined): TrainingTask {
  const { outputs } = decodeInferResponse(body, headerLength);
  const meta = readJsonTensor(outputs.find((t) => t.name === TASK_TENSOR), 'task') as Omit<TrainingTask, 'graph'>;
  const graph = outputs.find((t) => t.name === GRAPH_TENSOR);
  if (!graph || graph.datatype !== 'UINT8') throw malformed('the answer has no training graph');
  if (!Array.isArray(meta?.params) || !Array.isArray(meta.stats) || typeof meta.loss !== 'string' || !(meta.batchSize >= 1)) throw malformed('the task lacks its tensors, loss or batch size');
  return { ...meta, graph: (graph.data as Uint8Array).slice() };
}

// -- a round: GET /v2/federated/round --

export function encodeRound(task: TrainingTask, info: RoundInfo, weights: Weights): EncodedBody {
  return encodeInferResponse([jsonTensor(ROUND_TENSOR, info), ...weightsToWire(task, weights)], { modelName: FEDERATED_MODEL, binaryOutputs: true });
}

export function decodeRound(task: TrainingTask, body: Uint8Array, headerLength: number | undefined): { info: RoundInfo; weights: Weights } {
  const { outputs } = decodeInferResponse(body, headerLength);
  const info = readJsonTensor(outputs.find((t) => t.name === ROUND_TENSOR), 'round') as RoundInfo;
  if (!(Number.isInteger(info?.round) && (info.state === 'open' || info.state === 'calibrating' || info.state === 'done'))) throw malformed('the round has no number or state');
  return { info, weights: weightsFromWire(task, outputs, "the coordinator's global weights", (n) => n === ROUND_TENSOR) };
}

// -- an update: POST /v2/federated/update (an infer request: inputs = weights, parameters = who, which round, how much) --

export function encodeUpdate(task: TrainingTask, update: ClientUpdate): EncodedBody {
  return encodeInferRequest(weightsToWire(task, update.weights), {
    binaryOutputs: false,
    parameters: { client: update.client, round: update.round, samples: update.samples, loss: update.loss },
  });
}

/** The update a decoded request carries: parameters client (string), round, samples, loss (numbers); the weights checked by weightsFromWire. */
export function updateFromRequest(task: TrainingTask, decoded: DecodedRequest): ClientUpdate {
  const p = decoded.request.parameters ?? {};
  const bad = (why: string): SplitcError => new SplitcError('E_FED_UPDATE', `the update ${why}`, { hint: 'parameters: client (string), round, samples, loss (numbers)' });
  if (typeof p.client !== 'string') throw bad('has no string parameter "client"');
  for (const k of ['round', 'samples', 'loss'] as const) if (typeof p[k] !== 'number') throw bad(`has no number parameter "${k}"`);
  const weights = weightsFromWire(task, decoded.inputs, `client ${p.client.slice(0, 80)}'s update`);
  return { client: p.client, round: p.round as number, samples: p.samples as number, loss: p.loss as number, weights };
}

// -- the calibration phase: GET /v2/federated/calibration (what to compute, and the features model's ONNX bytes) --

/** Bytes as base64 (btoa: Node and browsers alike). */
export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A base64 string's bytes (E_BAD_ARGUMENT when it is not base64). */
export function fromBase64(text: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    throw new SplitcError('E_BAD_ARGUMENT', 'a public key is not base64');
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function encodeCalibrationInfo(info: CalibrationInfo, model: Uint8Array): EncodedBody {
  const json = { ...info, participants: info.participants.map((p) => (p.publicKey ? { client: p.client, publicKey: toBase64(p.publicKey) } : { client: p.client })) };
  return encodeInferResponse([jsonTensor(CALIBRATION_TENSOR, json), { name: MODEL_TENSOR, datatype: 'UINT8', shape: [model.length], data: model }], { modelName: FEDERATED_MODEL, binaryOutputs: true });
}

export function decodeCalibrationInfo(body: Uint8Array, headerLength: number | undefined): { info: CalibrationInfo; model: Uint8Array } {
  const { outputs } = decodeInferResponse(body, headerLength);
  const raw = readJsonTensor(outputs.find((t) => t.name === CALIBRATION_TENSOR), 'calibration phase') as Omit<CalibrationInfo, 'participants'> & { participants: { client: string; publicKey?: string }[] };
  const model = outputs.find((t) => t.name === MODEL_TENSOR);
  if (!model || model.datatype !== 'UINT8') throw malformed('the answer has no features model');
  if (!(Number.isInteger(raw?.round) && typeof raw.features === 'string' && raw.dim >= 1 && raw.classes >= 1 && raw.batch >= 1 && Array.isArray(raw.participants))) throw malformed('the calibration phase lacks its round, features, sizes or participants');
  let participants: CalibrationInfo['participants'];
  try {
    participants = raw.participants.map((p) => (typeof p.publicKey === 'string' ? { client: String(p.client), publicKey: fromBase64(p.publicKey) } : { client: String(p.client) }));
  } catch {
    throw malformed("a participant's public key is not base64");
  }
  return { info: { ...raw, participants }, model: (model.data as Uint8Array).slice() };
}

// -- calibration statistics: POST /v2/federated/calibration (one FP64 tensor in packStats's layout, or the masked UINT8 bytes) --

export function encodeCalibration(client: string, round: number, stats: Float64Array | Uint8Array): EncodedBody {
  const tensor: WireTensor = stats instanceof Float64Array ? { name: STATS_TENSOR, datatype: 'FP64', shape: [stats.length], data: stats } : { name: MASKED_TENSOR, datatype: 'UINT8', shape: [stats.length], data: stats };
  return encodeInferRequest([tensor], { binaryOutputs: false, parameters: { client, round } });
}

/** The bytes a calibration upload declares (one FP64 "federated:stats" or UINT8 "federated:masked" tensor of shape [n]), or E_FED_UPDATE. */
export function checkDeclaredCalibration(inputs: readonly InputHeader[]): number {
  const t = inputs[0];
  const kind = t?.name === STATS_TENSOR && t.datatype === 'FP64' ? 8 : t?.name === MASKED_TENSOR && t.datatype === 'UINT8' ? 1 : 0;
  if (inputs.length !== 1 || kind === 0) throw new SplitcError('E_FED_UPDATE', `calibration statistics are one FP64 tensor "${STATS_TENSOR}" or one UINT8 tensor "${MASKED_TENSOR}"`);
  const first = t!.shape[0];
  const n = t!.shape.length === 1 && typeof first === 'number' && Number.isSafeInteger(first) && first >= 0 ? first : NaN;
  if (!(n >= 0)) throw new SplitcError('E_FED_UPDATE', 'calibration statistics have shape [n]');
  return kind * n;
}

export function calibrationFromRequest(decoded: DecodedRequest): { client: string; round: number; stats: Float64Array | Uint8Array } {
  const p = decoded.request.parameters ?? {};
  const t = decoded.inputs[0];
  const bad = (why: string): SplitcError => new SplitcError('E_FED_UPDATE', `the calibration statistics ${why}`, { hint: `one FP64 tensor "${STATS_TENSOR}" (or UINT8 "${MASKED_TENSOR}") of shape [n]; parameters client, round` });
  if (typeof p.client !== 'string' || typeof p.round !== 'number') throw bad('need a string parameter "client" and a number "round"');
  const plain = t?.name === STATS_TENSOR && t.datatype === 'FP64';
  const masked = t?.name === MASKED_TENSOR && t.datatype === 'UINT8';
  if (decoded.inputs.length !== 1 || !t || !(plain || masked) || t.shape.length !== 1) throw bad(`must be one FP64 tensor "${STATS_TENSOR}" or UINT8 "${MASKED_TENSOR}" of shape [n]`);
  return { client: p.client, round: p.round, stats: plain ? (t.data as Float64Array).slice() : (t.data as Uint8Array).slice() };
}
