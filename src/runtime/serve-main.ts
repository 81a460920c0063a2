// Entry point for serving a folder of ONNX models: used by `splitc serve <dir>` and by
// generated cloud bundles (`node serve-main.js <dir> ...`). SIGTERM/SIGINT close gracefully.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ioError, notAnInteger, SplitcError } from '../ir/errors.js';
import { type BoundAddress, type InferenceServer, type InferenceServerOptions, type ModelSpec, createInferenceServer } from './server.js';

/** The server's limits and switches, passed on as they are (documented in InferenceServerOptions). */
type PassedServerOptions = Pick<
  InferenceServerOptions,
  | 'auth'
  | 'maxBodyBytes'
  | 'maxJsonBytes'
  | 'maxRows'
  | 'maxBufferedBytes'
  | 'minUploadBytesPerSecond'
  | 'requestTimeoutMs'
  | 'maxQueue'
  | 'maxBatchSize'
  | 'maxQueueDelayMs'
  | 'shutdownGraceMs'
  | 'corsOrigin'
>;

export interface ServeDirOptions extends PassedServerOptions {
  dir: string;
  port?: number;
  host?: string;
  /** The token itself (takes precedence over tokenFile and SPLITC_TOKEN). */
  token?: string;
  tokenFile?: string;
  /** onnxruntime intra-op threads per session (default: defaultIntraOpThreads(); 0: onnxruntime's own, one per core). */
  intraOpThreads?: number;
  /** Let onnxruntime's threads spin between runs (default false: on a shared host spinning
   *  threads steal the cores the HTTP handling and other processes need). */
  spin?: boolean;
  /** Run sessions on the event loop instead of a worker thread per model (default false). */
  sessionOnMainThread?: boolean;
  /** Install SIGTERM/SIGINT handlers that close gracefully and exit 0 (default true). */
  handleSignals?: boolean;
  log?: (line: string) => void;
  env?: Record<string, string | undefined>;
}

interface ManifestModel {
  file?: unknown;
  name?: unknown;
  version?: unknown;
}

function readManifest(dir: string): { file: string; data: ManifestModel & { models?: unknown } } | undefined {
  for (const name of ['manifest.json', 'model.json']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not a JSON object');
      return { file, data: data as ManifestModel };
    } catch (e) {
      throw new SplitcError('E_BAD_ARGUMENT', `cannot read ${file}: ${(e as Error).message}`, { location: file });
    }
  }
  return undefined;
}

/**
 * The models of a folder: every `*.onnx` file, named by manifest.json / model.json when it
 * names it (`{"name": ...}` for a folder with one model, or `{"models": [{"file", "name",
 * "version"}]}`), else by the file's stem.
 */
export function discoverModels(dir: string): ModelSpec[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (e) {
    throw ioError(`cannot read model folder ${dir}`, e);
  }
  const files = entries.filter((f) => f.endsWith('.onnx')).sort();
  if (files.length === 0) throw new SplitcError('E_BAD_ARGUMENT', `no *.onnx models in ${dir}`);
  const manifest = readManifest(dir);
  const named = new Map<string, { name?: string; version?: string }>();
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
  if (manifest) {
    const { data } = manifest;
    if (Array.isArray(data.models)) {
      for (const m of data.models as ManifestModel[]) {
        const file = str(m?.file);
        if (file) named.set(path.basename(file), { ...(str(m.name) ? { name: str(m.name)! } : {}), ...(str(m.version) ? { version: str(m.version)! } : {}) });
      }
    }
    const topName = str(data.name);
    if (topName) {
      const file = str(data.file) ?? (files.length === 1 ? files[0] : undefined);
      if (file) named.set(path.basename(file), { name: topName, ...(str(data.version) ? { version: str(data.version)! } : {}) });
    }
  }
  return files.map((f) => {
    const n = named.get(f);
    return { name: n?.name ?? path.basename(f, '.onnx'), ...(n?.version ? { version: n.version } : {}), path: path.join(dir, f) };
  });
}

export interface ServingHandle {
  server: InferenceServer;
  address: BoundAddress;
  /** Close gracefully (also what SIGTERM does, before exiting 0). */
  close(): Promise<void>;
}

export async function serveDirectory(opts: ServeDirOptions): Promise<ServingHandle> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const env = opts.env ?? process.env;
  let token = opts.token;
  if (token === undefined && opts.tokenFile !== undefined) {
    try {
      token = fs.readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (e) {
      throw ioError(`cannot read token file ${opts.tokenFile}`, e);
    }
    if (!token) throw new SplitcError('E_BAD_ARGUMENT', `token file ${opts.tokenFile} is empty`);
  }
  token ??= env.SPLITC_TOKEN?.trim() || undefined;
  const port = opts.port ?? 8000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SplitcError('E_BAD_ARGUMENT', `port must be an integer in 0..65535, got ${port}`);
  const models = discoverModels(opts.dir);
  const threads = opts.intraOpThreads ?? defaultIntraOpThreads();
  const server = await createInferenceServer({
    models,
    ...(token !== undefined ? { token } : {}),
    auth: opts.auth ?? true,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.maxJsonBytes !== undefined ? { maxJsonBytes: opts.maxJsonBytes } : {}),
    ...(opts.maxRows !== undefined ? { maxRows: opts.maxRows } : {}),
    ...(opts.maxBufferedBytes !== undefined ? { maxBufferedBytes: opts.maxBufferedBytes } : {}),
    ...(opts.minUploadBytesPerSecond !== undefined ? { minUploadBytesPerSecond: opts.minUploadBytesPerSecond } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
    ...(opts.maxBatchSize !== undefined ? { maxBatchSize: opts.maxBatchSize } : {}),
    ...(opts.maxQueueDelayMs !== undefined ? { maxQueueDelayMs: opts.maxQueueDelayMs } : {}),
    ...(opts.shutdownGraceMs !== undefined ? { shutdownGraceMs: opts.shutdownGraceMs } : {}),
    ...(opts.corsOrigin !== undefined ? { corsOrigin: opts.corsOrigin } : {}),
    sessionThread: opts.sessionOnMainThread ? 'main' : 'worker',
    sessionOptions: {
      ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
      extra: { session: { intra_op: { allow_spinning: opts.spin ? '1' : '0' }, inter_op: { allow_spinning: opts.spin ? '1' : '0' } } },
    },
  });
  let address: BoundAddress;
  try {
    address = await server.listen(port, opts.host ?? '127.0.0.1');
  } catch (e) {
    await server.close();
    throw e;
  }
  const names = server.models.map((m) => `${m.name}@${m.versions?.at(-1) ?? '1'}`).join(', ');
  log(`splitc serving ${names} at ${address.url}/v2${opts.auth === false ? ' (authentication disabled)' : ''}`);
  const close = (): Promise<void> => server.close();
  if (process.env.SPLITC_RELAUNCHED === '1' && process.connected) {
    // relaunched by relaunchForMemory: when the parent is gone (even killed), close and exit
    process.once('disconnect', () => void close().finally(() => process.exit(0)));
    process.channel?.unref();
  }
  if (opts.handleSignals ?? true) {
    const onSignal = (sig: NodeJS.Signals): void => {
      log(`${sig}: finishing in-flight requests, then exiting`);
      close().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`error while closing: ${e instanceof Error ? e.message : String(e)}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { server, address, close };
}

/**
 * glibc's malloc serves allocations below its mmap threshold from heaps it rarely gives back,
 * and raises that threshold as large blocks are freed, so a server whose sessions once ran a
 * large batch keeps the memory (measured: 238 MiB idle, 392 MiB 30 s after a burst of
 * 64-row requests). With a fixed threshold, allocations of 1 MiB and more are mapped on their
 * own and returned when freed, and the heap's free top beyond 16 MiB is trimmed: back to
 * idle within seconds after the same burst (docs/serving.md, ## Memory, for the cost). The
 * thresholds can only be set before the process starts, so the server relaunches itself once
 * with them (unless MALLOC_MMAP_THRESHOLD_ is already set, off Linux, or with
 * SPLITC_NO_RELAUNCH=1). The parent forwards signals and exits with the child's code; the
 * child exits if the parent dies.
 */
export const MALLOC_MMAP_THRESHOLD = 1 << 20;
/** Setting the mmap threshold fixes the trim threshold at 128 KiB unless set too: trimming that eagerly cost ~10 % of batch-1 throughput. */
export const MALLOC_TRIM_THRESHOLD = 16 << 20;

/** Relaunches this process with the malloc threshold; undefined when it should serve itself. Resolves to the exit code. */
export function relaunchForMemory(env: NodeJS.ProcessEnv = process.env): Promise<number> | undefined {
  if (process.platform !== 'linux' || env.MALLOC_MMAP_THRESHOLD_ !== undefined || env.SPLITC_NO_RELAUNCH === '1') return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...env, MALLOC_MMAP_THRESHOLD_: String(MALLOC_MMAP_THRESHOLD), MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD), SPLITC_RELAUNCHED: '1' },
  });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, forward);
  return new Promise((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(`splitc serve: cannot relaunch itself (${e.message}); serving without the malloc threshold\n`);
      resolve(-1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  });
}

/**
 * Intra-op threads per served session when none are asked for: half the cores, at least one.
 * A server runs sessions while its event loop reads and answers other requests (and clients
 * often share the host); onnxruntime's own default of one thread per core oversubscribes the
 * cores then. Measured on 2 vCPUs with 16 clients (bench/serve.ts): one thread serves ~1.4×
 * the requests of two, and batch-1 latency of the fixtures' cloud parts stays within ±10 %
 * (bench/split.ts). `--intra-op-threads 0` restores onnxruntime's default.
 */
export function defaultIntraOpThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

function intOption(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw notAnInteger(`--${name}`, min, JSON.stringify(v));
  return Number(v);
}

export const SERVE_USAGE = `usage: serve <dir> [--port 8000] [--host 127.0.0.1] [--token-file FILE | env SPLITC_TOKEN | --no-auth]
       [--max-body-bytes N] [--max-json-bytes N] [--max-rows N] [--max-buffered-bytes N] [--min-upload-rate N]
       [--request-timeout-ms N] [--max-queue N] [--max-batch-size N] [--max-queue-delay-ms N] [--shutdown-grace-ms N]
       [--cors-origin ORIGIN]
       [--intra-op-threads N (default: half the cores; 0: onnxruntime's)] [--spin] [--session-on-main-thread]`;

/** Parses serve arguments (`<dir> --port ...`) and serves; see SERVE_USAGE. */
export async function runServeCli(argv: string[]): Promise<ServingHandle> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'token-file': { type: 'string' },
        'no-auth': { type: 'boolean' },
        'max-body-bytes': { type: 'string' },
        'max-json-bytes': { type: 'string' },
        'max-rows': { type: 'string' },
        'max-buffered-bytes': { type: 'string' },
        'min-upload-rate': { type: 'string' },
        'request-timeout-ms': { type: 'string' },
        'max-queue': { type: 'string' },
        'max-batch-size': { type: 'string' },
        'max-queue-delay-ms': { type: 'string' },
        'shutdown-grace-ms': { type: 'string' },
        'cors-origin': { type: 'string' },
        'intra-op-threads': { type: 'string' },
        spin: { type: 'boolean' },
        'session-on-main-thread': { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new SplitcError('E_BAD_ARGUMENT', (e as Error).message, { hint: SERVE_USAGE });
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) throw new SplitcError('E_BAD_ARGUMENT', 'name one model folder', { hint: SERVE_USAGE });
  const port = intOption(v.port, 'port', 0);
  const opts: ServeDirOptions = {
    dir: positionals[0]!,
    ...(port !== undefined ? { port } : {}),
    ...(v.host !== undefined ? { host: v.host } : {}),
    ...(v['token-file'] !== undefined ? { tokenFile: v['token-file'] } : {}),
    auth: !v['no-auth'],
    ...(v['cors-origin'] !== undefined ? { corsOrigin: v['cors-origin'] } : {}),
    ...(v.spin ? { spin: true } : {}),
    ...(v['session-on-main-thread'] ? { sessionOnMainThread: true } : {}),
  };
  const ints: [keyof ServeDirOptions, string, number][] = [
    ['maxBodyBytes', 'max-body-bytes', 1],
    ['maxJsonBytes', 'max-json-bytes', 1],
    ['maxRows', 'max-rows', 1],
    ['maxBufferedBytes', 'max-buffered-bytes', 1],
    ['minUploadBytesPerSecond', 'min-upload-rate', 0],
    ['requestTimeoutMs', 'request-timeout-ms', 1],
    ['maxQueue', 'max-queue', 1],
    ['maxBatchSize', 'max-batch-size', 1],
    ['maxQueueDelayMs', 'max-queue-delay-ms', 0],
    ['shutdownGraceMs', 'shutdown-grace-ms', 0],
    ['intraOpThreads', 'intra-op-threads', 0],
  ];
  for (const [key, flag, min] of ints) {
    const n = intOption(v[flag as 'max-queue'], flag, min);
    if (n !== undefined) (opts as unknown as Record<string, number>)[key] = n;
  }
  return serveDirectory(opts);
}

// Run as a script: `node serve-main.js <dir> [options]` (generated cloud bundles do this).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const relaunched = relaunchForMemory();
  if (relaunched) void relaunched.then((code) => (code === -1 ? serveHere() : process.exit(code)));
  else serveHere();
}

function serveHere(): void {
  runServeCli(process.argv.slice(2)).catch((e: unknown) => {
    if (e instanceof SplitcError) {
      process.stderr.write(e.format() + '\n');
      process.exit(2);
    }
    process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
