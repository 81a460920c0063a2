// The two runtimes the profiler times, behind one small interface: onnxruntime-node (trace to a
// file) and onnxruntime-web's wasm build in Node (trace captured from its stdout writes).

import nodeFs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { SplitcError } from '../../ir/errors.js';
import type { FeedTensor, Feeds } from '../calib-data.js';
import { toOrtTensor } from '../calibrate.js';
import { median } from '../latency-fit.js';
import { createOrtSession } from '../ort-session.js';
import { type TraceEvent, parseTrace } from './trace.js';

export type OptLevel = 'disabled' | 'all';

/** The two runtimes behind one small interface: sessions from bytes or a path, feeds, timed runs. */
export interface Runner {
  /** The runtime's code gets faster while it runs (V8 tiers wasm up from Liftoff to TurboFan). */
  jit: boolean;
  runtime: string;
  /** Whether `open` can write the optimized graph (`optimizedModelPath`). */
  savesOptimizedModel: boolean;
  /** Create a session; `traceDir` (a folder of its own) turns the profiler on. */
  open(level: OptLevel, opts?: { traceDir?: string; optimizedModelPath?: string }): Promise<RunnerSession>;
}
export interface RunnerSession {
  run(): Promise<void>;
  /** Stop profiling and return the trace (null when none could be obtained). */
  endProfiling(): TraceEvent[] | null;
  release(): Promise<void>;
}

/**
 * Run until the run time stops changing: V8 first runs wasm through its baseline compiler and
 * swaps in optimized code per function as it gets hot, in the background (fixtures: the first
 * second or two of runs are up to 2.5× slower, at no fixed run count). Two consecutive blocks of
 * runs within 3 % of each other after at least a second, or 15 s at most.
 */
export async function settle(runner: Runner, level: OptLevel): Promise<void> {
  const session = await runner.open(level);
  try {
    const start = performance.now();
    let previous = Infinity;
    let stableBlocks = 0;
    while (performance.now() - start < 15_000) {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await session.run();
        times.push(performance.now() - t0);
      }
      const m = median(times);
      stableBlocks = Math.abs(m - previous) <= 0.03 * previous ? stableBlocks + 1 : 0;
      previous = m;
      if (stableBlocks >= 2 && performance.now() - start >= 1000) return;
    }
  } finally {
    await session.release();
  }
}

export function profilerError(what: string, e: unknown): SplitcError {
  if (e instanceof SplitcError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new SplitcError('E_PROFILER', `${what}: ${msg.split('\n')[0]}`, { hint: 'check the input shapes, and that this runtime supports every op of the model', cause: e });
}

export function nodeRunner(model: string | Uint8Array, feeds: Feeds, threads: number): Runner {
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)]));
  return {
    jit: false,
    runtime: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
    savesOptimizedModel: true,
    async open(level, { traceDir, optimizedModelPath } = {}) {
      let session: ort.InferenceSession;
      try {
        const sessionOptions: ort.InferenceSession.SessionOptions = {
          executionProviders: ['cpu'],
          graphOptimizationLevel: level,
          executionMode: 'sequential',
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          ...(traceDir ? { enableProfiling: true, profileFilePrefix: path.join(traceDir, 'ort') } : {}),
          ...(optimizedModelPath ? { optimizedModelFilePath: optimizedModelPath } : {}),
        };
        // Errors only (createOrtSession's default): onnxruntime's warnings about the model (and, when
        // saving a graph with NCHWc layout, that it is for this machine only: it is) would land on the user's stderr.
        session = await createOrtSession(ort, model, sessionOptions);
      } catch (e) {
        throw profilerError('onnxruntime-node could not load the model', e);
      }
      return {
        async run() {
          try {
            await session.run(ortFeeds);
          } catch (e) {
            throw profilerError('onnxruntime-node failed to run the model', e);
          }
        },
        endProfiling() {
          session.endProfiling();
          if (!traceDir) return null;
          // The file name carries a timestamp; the folder is ours, so it is the only .json there.
          const files = nodeFs.readdirSync(traceDir).filter((f) => f.endsWith('.json'));
          if (files.length !== 1) return null;
          return parseTrace(nodeFs.readFileSync(path.join(traceDir, files[0]!), 'utf8'));
        },
        release: () => session.release(),
      };
    },
  };
}

type OrtWeb = typeof import('onnxruntime-web');

export async function wasmRunner(bytes: Uint8Array, feeds: Feeds): Promise<Runner> {
  let ortWeb: OrtWeb;
  try {
    ortWeb = await import('onnxruntime-web');
  } catch (e) {
    throw profilerError('cannot load onnxruntime-web', e);
  }
  // Process-wide and read at the first session; threaded wasm would need cross-origin isolation in browsers anyway.
  ortWeb.env.wasm.numThreads = 1;
  return webRunner(ortWeb, bytes, feeds);
}

function webRunner(ortWeb: OrtWeb, bytes: Uint8Array, feeds: Feeds): Runner {
  const webFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, webTensor(ortWeb, v)]));
  return {
    jit: true,
    runtime: `onnxruntime-web ${ortWeb.env.versions.web ?? ortWeb.env.versions.common} (wasm)`,
    savesOptimizedModel: false,
    async open(level, { traceDir } = {}) {
      let session: import('onnxruntime-web').InferenceSession;
      try {
        session = await createOrtSession(ortWeb, bytes, {
          executionProviders: ['wasm'],
          graphOptimizationLevel: level,
          executionMode: 'sequential',
          ...(traceDir ? { enableProfiling: true } : {}),
        });
      } catch (e) {
        throw profilerError('onnxruntime-web could not load the model', e);
      }
      return {
        async run() {
          try {
            await session.run(webFeeds);
          } catch (e) {
            throw profilerError('onnxruntime-web failed to run the model', e);
          }
        },
        endProfiling() {
          const text = captureStdout(() => session.endProfiling());
          const start = text.indexOf('[');
          const end = text.lastIndexOf(']');
          if (start < 0 || end < start) return null;
          try {
            const parsed: unknown = JSON.parse(text.slice(start, end + 1));
            return Array.isArray(parsed) ? (parsed as TraceEvent[]) : null;
          } catch {
            return null;
          }
        },
        release: () => session.release(),
      };
    },
  };
}

function webTensor(ortWeb: OrtWeb, t: FeedTensor): import('onnxruntime-web').Tensor {
  const type = toOrtTensor(t).type; // same type names in both runtimes; reuses calibrate's dtype table and its error
  return new ortWeb.Tensor(type as never, t.data as never, t.dims);
}

/**
 * Text written to fd 1 through `fs.writeSync` while `fn` runs (synchronously), kept off the
 * terminal. onnxruntime-web's Emscripten runtime prints with `require('fs').writeSync(1, …)`,
 * the object `nodeFs` is.
 */
function captureStdout(fn: () => unknown): string {
  const chunks: string[] = [];
  const original = nodeFs.writeSync;
  const patched = (fd: number, data: unknown, ...rest: unknown[]): number => {
    if (fd === 1 && typeof data === 'string') {
      chunks.push(data);
      return Buffer.byteLength(data);
    }
    return (original as (...a: unknown[]) => number)(fd, data, ...rest);
  };
  (nodeFs as { writeSync: unknown }).writeSync = patched;
  try {
    fn();
  } finally {
    (nodeFs as { writeSync: unknown }).writeSync = original;
  }
  return chunks.join('');
}
