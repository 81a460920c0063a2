// Infer requests: what a request may cost a model (checked on its declared inputs), binding
// its inputs to the model's, and the handler from body to answer through the model's queue.

import type * as http from 'node:http';
import {
  type DecodedRequest,
  type InputHeader,
  type WireTensor,
  DATATYPES,
  decodeInferRequest,
  elementCount,
  encodeInferResponse,
  HEADER_LENGTH_HEADER,
  KServeError,
  parseHeaderLength,
} from '../kserve.js';
import type { BodyReader } from './body.js';
import type { ServedModel } from './models.js';
import type { Responder } from './respond.js';

/**
 * What a request may cost, from its declared inputs alone: at most maxRows rows to a
 * batchable model and maxElements input elements (E_REQUEST_SHAPE, 400). Returns the most
 * binary data those inputs can carry (undefined with a BYTES input: its elements have no size).
 */
export function checkCost(m: ServedModel, inputs: readonly InputHeader[], maxRows: number): number | undefined {
  let elements = 0;
  let bytes: number | undefined = 0;
  for (const t of inputs) {
    const what = `input "${t.name.slice(0, 100)}"`;
    const n = elementCount(t.shape, what);
    const rows = t.shape[0] as number;
    if (m.batchable && t.shape.length > 0 && rows > maxRows) {
      throw new KServeError(400, 'E_REQUEST_SHAPE', `${what} has ${rows} rows; this server takes at most ${maxRows} per request (maxRows): split the batch`);
    }
    elements += n;
    bytes = t.datatype === 'BYTES' || bytes === undefined ? undefined : bytes + n * DATATYPES[t.datatype].bytes;
  }
  if (elements > m.maxElements) {
    throw new KServeError(400, 'E_REQUEST_SHAPE', `the inputs have ${elements} elements; this server takes at most ${m.maxElements} per request for model "${m.name}": split the batch`);
  }
  return bytes;
}

/** The inputs in the model's order, checked against its input names, dtypes and shapes; requested outputs must exist. */
export function bindInputs(m: ServedModel, inputs: WireTensor[], outputs: string[] | undefined): WireTensor[] {
  const given = new Map(inputs.map((t) => [t.name, t]));
  for (const t of inputs) {
    const meta = m.inputIndex.get(t.name);
    if (!meta) {
      throw new KServeError(400, 'E_REQUEST_INPUT', `model "${m.name}" has no input "${t.name.slice(0, 100)}"; its inputs are: ${m.inputs.map((i) => i.name).join(', ')}`);
    }
    if (t.datatype !== meta.datatype) throw new KServeError(400, 'E_REQUEST_DTYPE', `input "${t.name}" must be ${meta.datatype}, got ${t.datatype}`);
    const shapeError = (): KServeError =>
      new KServeError(400, 'E_REQUEST_SHAPE', `input "${t.name}" has shape [${t.shape.join(',')}], the model expects [${meta.shape.join(',')}] (-1: any size)`);
    if (t.shape.length !== meta.shape.length) throw shapeError();
    meta.shape.forEach((d, i) => {
      if (d >= 0 && t.shape[i] !== d) throw shapeError();
    });
  }
  const missing = m.inputs.filter((i) => !given.has(i.name));
  if (missing.length) throw new KServeError(400, 'E_REQUEST_INPUT', `missing input(s): ${missing.map((i) => i.name).join(', ')}`);
  for (const o of outputs ?? []) {
    if (!m.outputs.some((x) => x.name === o)) {
      throw new KServeError(400, 'E_REQUEST_OUTPUT', `model "${m.name}" has no output "${o.slice(0, 100)}"; its outputs are: ${m.outputs.map((x) => x.name).join(', ')}`);
    }
  }
  return m.inputs.map((i) => given.get(i.name)!);
}

/** Answers infer requests, counting those it holds against maxQueue. */
export class InferHandler {
  /** Infer requests whose body has arrived: waiting for or in a session run. */
  held = 0;

  constructor(
    private readonly reader: BodyReader,
    private readonly responder: Responder,
    private readonly maxJsonBytes: number,
    private readonly maxQueue: number,
    private readonly maxRows: number,
  ) {}

  /**
   * One infer request. It counts against maxQueue only once its body has arrived: a slow
   * upload holds its connection and its bytes, not a queue slot.
   */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, m: ServedModel, started: number): Promise<void> {
    const { reader, maxJsonBytes, maxQueue, maxRows } = this;
    const checkInputs = (declared: readonly InputHeader[]): number | undefined => checkCost(m, declared, maxRows);
    const held = { bytes: 0 };
    let queued = false;
    try {
      const wire = await reader.read(req, checkInputs, held);
      const body = await reader.decompress(req, wire, checkInputs, held);
      const rawHeaderLength = req.headers[HEADER_LENGTH_HEADER.toLowerCase()];
      const headerLength = parseHeaderLength(Array.isArray(rawHeaderLength) ? rawHeaderLength.join(',') : rawHeaderLength, body.length);
      if ((headerLength ?? body.length) > maxJsonBytes) {
        throw new KServeError(413, 'E_BODY_TOO_LARGE', `the request's JSON is ${headerLength ?? body.length} bytes; this server accepts at most ${maxJsonBytes} (send tensors in the binary extension)`);
      }
      const decoded = decodeInferRequest(body, headerLength, { checkInputs });
      const inputs = bindInputs(m, decoded.inputs, decoded.outputs);
      if (this.held >= maxQueue) throw new KServeError(503, 'E_OVERLOADED', `the server is at its limit of ${maxQueue} queued requests; retry later`);
      this.held++;
      queued = true;
      await this.run(res, m, started, decoded, inputs);
    } finally {
      reader.bodies.give(held.bytes);
      if (queued) this.held--;
    }
  }

  private async run(res: http.ServerResponse, m: ServedModel, started: number, decoded: DecodedRequest, inputs: WireTensor[]): Promise<void> {
    const readMs = performance.now() - started;
    const job = m.scheduler.submit(inputs);
    const onClose = (): void => {
      if (!res.writableFinished) job.cancel();
    };
    res.once('close', onClose);
    const done = await job.promise;
    let outputs = done.outputs;
    res.off('close', onClose);
    if (decoded.outputs) {
      const order = decoded.outputs;
      outputs = order.map((n) => outputs.find((o) => o.name === n)!);
    }
    const encoded = encodeInferResponse(outputs, {
      modelName: m.name,
      modelVersion: m.version,
      ...(decoded.request.id !== undefined ? { id: decoded.request.id } : {}),
      binaryOutputs: decoded.binaryOutputs,
    });
    this.responder.send(res, 200, encoded.chunks, {
      'Content-Type': encoded.contentType,
      // W3C Server-Timing (ms): reading and decoding the body, waiting in the queue, onnxruntime's
      // run, and the whole handler up to this answer — so clients can tell compute from
      // transport (the edge module reports `run` as cloudRunMs).
      'Server-Timing': [
        `read;dur=${readMs.toFixed(3)}`,
        `queue;dur=${done.queueMs.toFixed(3)}`,
        `run;dur=${done.runMs.toFixed(3)}`,
        `total;dur=${(performance.now() - started).toFixed(3)}`,
      ].join(', '),
      ...(encoded.jsonLength !== undefined ? { [HEADER_LENGTH_HEADER]: encoded.jsonLength } : {}),
    });
  }
}
