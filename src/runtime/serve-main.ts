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
  // relaunched by relaunchForMemory: with --expose-gc and the allocator it names
  const relaunched = process.env.SPLITC_RELAUNCHED === '1';
  const gc = (globalThis as { gc?: () => void }).gc;
  const stopCollecting = relaunched && gc ? collectWhenIdle(server, gc) : undefined;
  const close = (): Promise<void> => {
    stopCollecting?.();
    return server.close();
  };
  const allocator = relaunched ? process.env.SPLITC_ALLOCATOR : undefined;
  if (allocator) {
    log(
      allocator === 'glibc'
        ? 'memory: glibc malloc with a 1 MiB mmap threshold; install libjemalloc2 so memory freed after bursts of concurrent requests is returned (docs/serving.md, Memory)'
        : `memory: ${allocator}`,
    );
  }
  if (relaunched && process.connected) {
    // when the launcher is gone (even killed), close and exit
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
 * A server's memory should come back after a burst of large requests. Two things keep it:
 *
 * - glibc's malloc serves allocations below its mmap threshold from heaps it rarely gives
 *   back, and raises that threshold as large blocks are freed (measured: 238 MiB idle, 392
 *   MiB 30 s after a burst of 64-row requests). With a fixed threshold, blocks of 1 MiB and
 *   more are mapped on their own and returned when freed, and the heap's free top beyond 16
 *   MiB is trimmed.
 * - Under concurrent load that is not enough: the socket's 64 KiB read chunks interleave with
 *   longer-lived blocks on the main heap, and the holes they leave when freed stay resident
 *   (measured with the CPUs busy: 40–60 MiB of the main heap, 1.2–1.3× idle 30 s after the
 *   burst; `malloc_trim(0)`, which Node cannot call, returned all of it). jemalloc returns
 *   free pages wherever they are, after `dirty_decay_ms`, from a background thread.
 *
 * So the server relaunches itself once, with jemalloc preloaded when it is installed
 * (Debian/Ubuntu `libjemalloc2`; `SPLITC_JEMALLOC=<path>` names another, `SPLITC_JEMALLOC=0`
 * keeps glibc) and the glibc thresholds otherwise; environment variables are the only way to
 * set either, and they are read when a process starts. Not off Linux, not when
 * MALLOC_MMAP_THRESHOLD_ is already set, not with SPLITC_NO_RELAUNCH=1, and LD_PRELOAD set by
 * the user is left as it is. The parent forwards signals and exits with the child's code; the
 * child exits if the parent dies. docs/serving.md, ## Memory, has the measurements and costs.
 */
export const MALLOC_MMAP_THRESHOLD = 1 << 20;
/** Setting the mmap threshold fixes the trim threshold at 128 KiB unless set too: trimming that eagerly cost ~10 % of batch-1 throughput. */
export const MALLOC_TRIM_THRESHOLD = 16 << 20;
/** Free pages go back to the system after a second, from jemalloc's own thread (not only when the server next allocates). */
export const JEMALLOC_CONF = 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0';

/**
 * After a burst, request bodies and the socket chunks of refused ones are garbage that V8
 * collects when the program next allocates enough, and an idle server allocates nothing, so
 * they stay resident (measured: 45 MiB above idle 30 s after a burst, under CPU load). Checked
 * every `everyMs`: a server that received no request since the last check, has none in
 * flight and holds `minBytes` or more of ArrayBuffers (live or not yet collected) is
 * collected, once per quiet spell. The relaunched server has `gc` (--expose-gc). Returns the
 * function that stops the checks.
 */
export function collectWhenIdle(
  server: Pick<InferenceServer, 'stats'>,
  gc: () => void,
  opts: { everyMs?: number; minBytes?: number; arrayBuffers?: () => number } = {},
): () => void {
  const minBytes = opts.minBytes ?? 16 << 20;
  const arrayBuffers = opts.arrayBuffers ?? (() => process.memoryUsage().arrayBuffers);
  let seen = -1;
  let collected = false;
  const timer = setInterval(() => {
    const { activeRequests, totalRequests } = server.stats();
    const quiet = activeRequests === 0 && totalRequests === seen;
    if (!quiet) collected = false;
    else if (!collected && arrayBuffers() >= minBytes) {
      gc();
      collected = true;
    }
    seen = totalRequests;
  }, opts.everyMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}

const MULTIARCH: Partial<Record<string, string>> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu', riscv64: 'riscv64-linux-gnu' };

/** The jemalloc shared library to preload, if one is installed (or named by SPLITC_JEMALLOC); undefined for glibc's malloc. */
export function findJemalloc(env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = fs.existsSync): string | undefined {
  const chosen = env.SPLITC_JEMALLOC;
  if (chosen === '0') return undefined;
  if (chosen) return exists(chosen) ? chosen : undefined;
  const multiarch = MULTIARCH[process.arch];
  const dirs = [...(multiarch ? [`/usr/lib/${multiarch}`, `/lib/${multiarch}`] : []), '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.map((d) => `${d}/libjemalloc.so.2`).find(exists);
}

/** The relaunched server's environment: jemalloc preloaded when found (unless LD_PRELOAD is set), the glibc thresholds either way. */
export function relaunchEnv(env: NodeJS.ProcessEnv = process.env, exists?: (file: string) => boolean): NodeJS.ProcessEnv {
  const jemalloc = env.LD_PRELOAD ? undefined : findJemalloc(env, exists);
  return {
    ...env,
    MALLOC_MMAP_THRESHOLD_: String(MALLOC_MMAP_THRESHOLD),
    MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD),
    ...(jemalloc ? { LD_PRELOAD: jemalloc, MALLOC_CONF: env.MALLOC_CONF ?? JEMALLOC_CONF } : {}),
    SPLITC_RELAUNCHED: '1',
    SPLITC_ALLOCATOR: jemalloc ? `jemalloc (${jemalloc})` : env.LD_PRELOAD ? `LD_PRELOAD=${env.LD_PRELOAD}` : 'glibc',
  };
}

/** Relaunches this process with the allocator settings; undefined when it should serve itself. Resolves to the exit code. */
export function relaunchForMemory(env: NodeJS.ProcessEnv = process.env): Promise<number> | undefined {
  if (process.platform !== 'linux' || env.MALLOC_MMAP_THRESHOLD_ !== undefined || env.SPLITC_NO_RELAUNCH === '1') return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...(process.execArgv.includes('--expose-gc') ? [] : ['--expose-gc']), ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: relaunchEnv(env),
  });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, forward);
  return new Promise((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(`splitc serve: cannot relaunch itself (${e.message}); serving with the default allocator settings\n`);
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
