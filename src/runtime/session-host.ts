// Where a served model's onnxruntime session lives. onnxruntime-node's `session.run` runs
// synchronously on the calling thread, so a session on the server's event loop stops it from
// reading, decoding and answering other requests (and health probes) for the whole run. A
// worker host keeps the session on a worker thread: the event loop handles HTTP while the
// worker computes, and tensors cross as transferred buffers (one copy of each input, none
// of the outputs). The main host keeps the session in-process (for embedding and debugging).

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { withOrtErrorsOnly } from '../search/ort-log.js';
import { createOrtSession } from '../search/ort-session.js';

/** A tensor crossing the host boundary: what `new ort.Tensor(type, data, dims)` takes. */
export interface HostTensor {
  name: string;
  type: ort.Tensor.Type;
  dims: readonly number[];
  data: ort.Tensor.DataType;
  /**
   * The data's buffer belongs to this tensor alone and nobody reads it after the run: a
   * worker host moves it to its thread instead of copying it (the array is detached).
   */
  disposable?: boolean;
}

export interface SessionHost {
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  /** Runs the model; outputs in `outputMetadata` order, and the seconds onnxruntime took. */
  run(feeds: HostTensor[]): Promise<{ outputs: HostTensor[]; seconds: number }>;
  release(): Promise<void>;
}

/** onnxruntime refused the inputs (the request's fault): `message` is onnxruntime's. */
export class SessionRunError extends Error {
  override readonly name = 'SessionRunError';
}

/** The host itself failed (the worker died): every later run fails the same way. */
export class SessionHostError extends Error {
  override readonly name = 'SessionHostError';
}

export type SessionSource = { path: string } | { bytes: Uint8Array };

function ortOutputs(out: ort.InferenceSession.ReturnType, names: readonly string[]): HostTensor[] {
  return names.map((name) => {
    const t = out[name]!;
    return { name, type: t.type, dims: t.dims, data: t.data };
  });
}

async function createMainHost(source: SessionSource, options: ort.InferenceSession.SessionOptions): Promise<SessionHost> {
  // Loaded here, not at the top: a server whose sessions live on workers never loads the
  // binding on its main thread (two loaded copies could abort the process at exit).
  const ort = await import('onnxruntime-node');
  const session = await createOrtSession(ort, 'path' in source ? source.path : source.bytes, options);
  const outputNames = session.outputNames;
  return {
    inputMetadata: session.inputMetadata,
    outputMetadata: session.outputMetadata,
    async run(feeds) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const f of feeds) ortFeeds[f.name] = new ort.Tensor(f.type as 'float32', f.data as Float32Array, f.dims);
      const started = performance.now();
      let out: ort.InferenceSession.ReturnType;
      try {
        out = await session.run(ortFeeds);
      } catch (e) {
        throw new SessionRunError(e instanceof Error ? e.message : String(e), { cause: e });
      }
      return { outputs: ortOutputs(out, outputNames), seconds: (performance.now() - started) / 1000 };
    },
    release: () => session.release(),
  };
}

// The worker's program: CommonJS evaluated from a string, so that it runs the same from the
// TypeScript sources, from dist/ and from a bundle's lib/ (no loader, no file to locate).
// Messages in: {op:'run', id, feeds}. Out: {op:'ready', inputs, outputs} |
// {op:'fail', message} | {op:'done', id, outputs, seconds} | {op:'error', id, message}.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const transferable = (a) => a && typeof a === 'object' && ArrayBuffer.isView(a) ? a : undefined;
parentPort.on('message', async (m) => {
  const feeds = {};
  for (const f of m.feeds) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  const started = performance.now();
  let out;
  try {
    out = await session.run(feeds);
  } catch (e) {
    parentPort.postMessage({ op: 'error', id: m.id, message: e && e.message ? String(e.message) : String(e) });
    return;
  }
  const seconds = (performance.now() - started) / 1000;
  const outputs = [];
  const transfer = [];
  for (const name of session.outputNames) {
    const t = out[name];
    let data = t.data;
    const view = transferable(data);
    if (view) {
      // Copy into a buffer of our own and move that: onnxruntime's output buffers are native
      // memory with finalizers, and moving one to another thread can abort the process when
      // it is finalized (seen as "terminate called after throwing Napi::Error" at shutdown).
      data = view.slice();
      transfer.push(data.buffer);
    }
    outputs.push({ name, type: t.type, dims: t.dims, data });
  }
  try {
    parentPort.postMessage({ op: 'done', id: m.id, outputs, seconds }, transfer);
  } catch {
    parentPort.postMessage({ op: 'done', id: m.id, outputs, seconds });
  }
});
(async () => {
  try {
    session = await ort.InferenceSession.create(workerData.source, workerData.options);
  } catch (e) {
    parentPort.postMessage({ op: 'fail', message: e && e.message ? String(e.message) : String(e) });
    return;
  }
  parentPort.postMessage({ op: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata });
})();
`;

interface Pending {
  resolve(v: { outputs: HostTensor[]; seconds: number }): void;
  reject(e: Error): void;
}

type WorkerMessage =
  | { op: 'ready'; inputs: ort.InferenceSession.ValueMetadata[]; outputs: ort.InferenceSession.ValueMetadata[] }
  | { op: 'fail'; message: string }
  | { op: 'done'; id: number; outputs: HostTensor[]; seconds: number }
  | { op: 'error'; id: number; message: string };

async function createWorkerHost(source: SessionSource, options: ort.InferenceSession.SessionOptions): Promise<SessionHost> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const workerSource = 'path' in source ? source.path : source.bytes.slice();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { ortPath, source: workerSource, options },
    transferList: typeof workerSource === 'string' ? [] : [workerSource.buffer as ArrayBuffer],
    stdout: false,
    stderr: false,
  });
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let dead: SessionHostError | undefined;
  let exited = false;

  const ready = new Promise<Extract<WorkerMessage, { op: 'ready' }>>((resolve, reject) => {
    const die = (e: SessionHostError): void => {
      if (dead) return;
      dead = e;
      reject(e);
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    worker.on('message', (m: WorkerMessage) => {
      switch (m.op) {
        case 'ready':
          resolve(m);
          break;
        case 'fail':
          die(new SessionHostError(m.message));
          void worker.terminate();
          break;
        case 'done':
        case 'error': {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (m.op === 'done') p?.resolve({ outputs: m.outputs, seconds: m.seconds });
          else p?.reject(new SessionRunError(m.message));
          break;
        }
      }
    });
    worker.on('error', (e: unknown) => die(new SessionHostError(`the session worker failed: ${e instanceof Error ? e.message : String(e)}`)));
    worker.on('exit', (code) => {
      exited = true;
      die(new SessionHostError(`the session worker exited (code ${code})`));
    });
  });
  const meta = await ready;
  // The worker keeps the process alive only while a run is pending.
  worker.unref();
  const settle = (): void => {
    if (pending.size === 0) worker.unref();
  };

  return {
    inputMetadata: meta.inputs,
    outputMetadata: meta.outputs,
    run(feeds) {
      if (dead) return Promise.reject(dead);
      return new Promise((resolve, reject) => {
        const id = nextId++;
        if (pending.size === 0) worker.ref();
        pending.set(id, {
          resolve: (v) => {
            settle();
            resolve(v);
          },
          reject: (e) => {
            settle();
            reject(e);
          },
        });
        const transfer: ArrayBuffer[] = [];
        const sent = feeds.map((f) => {
          const d = f.data as unknown;
          if (!ArrayBuffer.isView(d)) return f;
          const view = d as Uint8Array;
          const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
          if (f.disposable && whole) {
            transfer.push(view.buffer as ArrayBuffer);
            return { name: f.name, type: f.type, dims: f.dims, data: f.data };
          }
          // Inputs are usually views into a request body: copy each into a buffer of its own
          // and move that, so the body is neither cloned whole nor detached.
          const copy = view.slice();
          transfer.push(copy.buffer);
          return { name: f.name, type: f.type, dims: f.dims, data: copy };
        });
        worker.postMessage({ op: 'run', id, feeds: sent }, transfer);
      });
    },
    async release() {
      // Ending the thread frees the session with it. Calling session.release() on the worker
      // first aborted the process in ~5% of shutdowns ("terminate called after throwing an
      // instance of 'Napi::Error'", onnxruntime-node 1.30; 0 of 240 without it).
      dead ??= new SessionHostError('the session was released');
      if (!exited) await worker.terminate();
    },
  };
}

export type SessionThread = 'worker' | 'main';

/** Creates the session on a worker thread (default) or on the calling thread; onnxruntime logs errors only unless `options` say otherwise. */
export function createSessionHost(source: SessionSource, options: ort.InferenceSession.SessionOptions, thread: SessionThread = 'worker'): Promise<SessionHost> {
  const withLog = withOrtErrorsOnly(options);
  return thread === 'main' ? createMainHost(source, withLog) : createWorkerHost(source, withLog);
}
