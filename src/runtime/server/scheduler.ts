// Each model's scheduler: a queue of infer jobs, dynamic batching (jobs with equal
// dtypes and non-batch dims stacked along dim 0 into one session.run, and split again), and
// the conversion between wire tensors and the session host's tensors.

import { concatTyped } from '../../ir/bytes.js';
import {
  type KServeDatatype,
  type TensorData,
  type TensorMetadata,
  type WireTensor,
  bytesToStrings,
  datatypeFromOrt,
  datatypeToOrt,
  KServeError,
  stringsToBytes,
} from '../kserve.js';
import { type HostTensor, type SessionHost, SessionRunError } from '../session-host.js';

/** What a scheduler needs of its model. */
export interface SchedulableModel {
  name: string;
  host: SessionHost;
  outputs: TensorMetadata[];
  /** Every input and output has a dynamic first dim: requests may be stacked along it. Cleared when a batch's outputs prove otherwise. */
  batchable: boolean;
}

/** A job's outputs, with its time in the queue and the session run's time (ms). */
export interface JobResult {
  outputs: WireTensor[];
  queueMs: number;
  runMs: number;
}

interface Job {
  /** Inputs in the model's input order. */
  inputs: WireTensor[];
  /** Rows along dim 0 when the job can join a batch. */
  rows: number | undefined;
  /** Jobs with equal keys have equal dtypes and non-batch dims. */
  key: string;
  enqueuedMs: number;
  /** When the job left the queue for a run. */
  startedMs: number;
  cancelled: boolean;
  resolve(done: JobResult): void;
  reject(e: unknown): void;
}

function toHostTensor(t: WireTensor): HostTensor {
  const type = datatypeToOrt(t.datatype);
  if (type === 'bfloat16') throw new KServeError(400, 'E_REQUEST_DTYPE', `input "${t.name}": BF16 is not supported by onnxruntime-node`);
  if (t.datatype === 'BYTES') return { name: t.name, type: 'string', dims: t.shape, data: bytesToStrings(t.data as Uint8Array[]) };
  // Decoding gives either views into the request body or arrays of their own (JSON data,
  // misaligned binary data, merged batches); the server reads neither after the run, so
  // arrays of their own can move to the session thread without a copy.
  const data = t.data as Float32Array;
  const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return { name: t.name, type, dims: t.shape, data, ...(own ? { disposable: true } : {}) };
}

function fromHostTensor(name: string, t: HostTensor): WireTensor {
  const datatype = datatypeFromOrt(t.type);
  if (!datatype) throw new KServeError(500, 'E_INFERENCE', `output "${name}" has type ${t.type}, which the v2 protocol cannot carry`);
  let data: TensorData;
  if (datatype === 'BYTES') data = stringsToBytes(t.data as string[]);
  else if (datatype === 'FP16' && !(t.data instanceof Uint16Array)) {
    const a = t.data as unknown as { buffer: ArrayBufferLike; byteOffset: number; length: number };
    data = new Uint16Array(a.buffer, a.byteOffset, a.length); // a Float16Array: keep the raw bits
  } else data = t.data as TensorData;
  return { name, datatype, shape: t.dims.slice(), data };
}

/** One input of a batch: the jobs' data stacked along dim 0. */
function concatData(dt: KServeDatatype, parts: TensorData[]): TensorData {
  if (dt === 'BYTES') return (parts as Uint8Array[][]).flat();
  return concatTyped((parts[0] as Float32Array).constructor as Float32ArrayConstructor, parts as Float32Array[]);
}

function sliceRows(t: WireTensor, start: number, rows: number, total: number): WireTensor {
  const perRow = total === 0 ? 0 : t.data.length / total;
  const data =
    t.datatype === 'BYTES'
      ? (t.data as Uint8Array[]).slice(start * perRow, (start + rows) * perRow)
      : (t.data as Float32Array).subarray(start * perRow, (start + rows) * perRow);
  return { name: t.name, datatype: t.datatype, shape: [rows, ...t.shape.slice(1)], data };
}

export class Scheduler {
  private readonly queue: Job[] = [];
  /** Runs handed to the session host and not yet answered. */
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly model: SchedulableModel,
    private readonly maxBatchSize: number,
    private readonly maxQueueDelayMs: number,
    /** Runs handed to the host at once: 2 keeps a worker busy while the event loop answers the last run. */
    private readonly maxInFlight: number,
    private readonly onRun: (requests: number, seconds: number) => void,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  submit(inputs: WireTensor[]): { promise: Promise<JobResult>; cancel(): void } {
    let job!: Job;
    const promise = new Promise<JobResult>((resolve, reject) => {
      const rows = this.model.batchable && inputs.every((t) => t.shape[0] === inputs[0]!.shape[0]) ? inputs[0]!.shape[0] : undefined;
      const key = inputs.map((t) => `${t.datatype}:${t.shape.slice(1).join('x')}`).join('|');
      job = { inputs, rows, key, enqueuedMs: performance.now(), startedMs: 0, cancelled: false, resolve, reject };
    });
    this.queue.push(job);
    this.pump();
    return {
      promise,
      cancel: () => {
        job.cancelled = true;
      },
    };
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    if (this.running >= this.maxInFlight) return;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const j = this.queue[i]!;
      if (j.cancelled) {
        this.queue.splice(i, 1);
        j.reject(new KServeError(499, 'E_NETWORK', 'the client went away'));
      }
    }
    if (this.queue.length === 0) {
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const head = this.queue[0]!;
    const batch = [head];
    if (this.maxBatchSize > 1 && this.model.batchable && head.rows !== undefined && head.rows < this.maxBatchSize) {
      let rows = head.rows;
      for (let i = 1; i < this.queue.length && rows < this.maxBatchSize; i++) {
        const j = this.queue[i]!;
        if (j.key === head.key && j.rows !== undefined && rows + j.rows <= this.maxBatchSize) {
          batch.push(j);
          rows += j.rows;
        }
      }
      const waitedMs = performance.now() - head.enqueuedMs;
      if (rows < this.maxBatchSize && waitedMs < this.maxQueueDelayMs) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.ceil(this.maxQueueDelayMs - waitedMs));
        return;
      }
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = performance.now();
    for (const j of batch) {
      this.queue.splice(this.queue.indexOf(j), 1);
      j.startedMs = now;
    }
    this.running++;
    void this.execute(batch).finally(() => {
      // Let the poll phase read the requests that arrived during the run before choosing
      // the next batch, so they can join it.
      setImmediate(() => {
        this.running--;
        this.pump();
      });
    });
    if (this.running < this.maxInFlight && this.queue.length > 0) this.pump();
  }

  /** One session.run: the outputs in model order and the seconds it took. */
  private async run(inputs: WireTensor[]): Promise<{ outputs: WireTensor[]; seconds: number }> {
    const feeds = inputs.map(toHostTensor);
    let out: { outputs: HostTensor[]; seconds: number };
    try {
      out = await this.model.host.run(feeds);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof SessionRunError) throw new KServeError(400, 'E_INFERENCE', `onnxruntime rejected the request: ${msg.slice(0, 500)}`, { cause: e });
      throw new KServeError(500, 'E_INFERENCE', `model ${this.model.name} cannot run: ${msg.slice(0, 500)}`, { cause: e });
    }
    return { outputs: out.outputs.map((t, i) => fromHostTensor(this.model.outputs[i]!.name, t)), seconds: out.seconds };
  }

  private async runAlone(job: Job): Promise<void> {
    try {
      const { outputs, seconds } = await this.run(job.inputs);
      this.onRun(1, seconds);
      job.resolve({ outputs, queueMs: job.startedMs - job.enqueuedMs, runMs: seconds * 1000 });
    } catch (e) {
      job.reject(e);
    }
  }

  private async execute(batch: Job[]): Promise<void> {
    if (batch.length === 1) {
      await this.runAlone(batch[0]!);
      return;
    }
    const rows = batch.map((j) => j.rows!);
    const total = rows.reduce((a, b) => a + b, 0);
    const merged = batch[0]!.inputs.map((t, i) => ({
      name: t.name,
      datatype: t.datatype,
      shape: [total, ...t.shape.slice(1)],
      data: concatData(
        t.datatype,
        batch.map((j) => j.inputs[i]!.data),
      ),
    }));
    let outputs: WireTensor[] | undefined;
    let runMs = 0;
    try {
      const r = await this.run(merged);
      if (r.outputs.every((o) => o.shape[0] === total)) {
        outputs = r.outputs;
        runMs = r.seconds * 1000;
        this.onRun(batch.length, r.seconds);
      } else this.model.batchable = false; // outputs are not batch-major: never batch this model again
    } catch {
      outputs = undefined; // one bad request must not fail its neighbours: run them one by one
    }
    if (outputs) {
      let start = 0;
      batch.forEach((j, k) => {
        j.resolve({ outputs: outputs!.map((o) => sliceRows(o, start, rows[k]!, total)), queueMs: j.startedMs - j.enqueuedMs, runMs });
        start += rows[k]!;
      });
      return;
    }
    for (const j of batch) await this.runAlone(j);
  }
}
