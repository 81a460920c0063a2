// Serving benchmark: a closed-loop load test of the v2 server on loopback, serving the
// PaddleOCR text-direction classifier (input x [1,3,48,192]), against a bare
// onnxruntime-node session.run loop at the same concurrency; dynamic batching on and off,
// binary and JSON bodies. Prints a markdown table (requests/s, p50/p99 latency, errors,
// mean batch size).
//
//   npx tsx bench/serve.ts [--duration S] [--warmup S] [--concurrency N]
//                          [--max-batch-size N] [--max-queue-delay-ms N] [--intra-op-threads N]
//
// --intra-op-threads applies to the bare loop and the server alike. Without it the bare loop
// runs onnxruntime's default (one thread per core) and the server its own default (half the
// cores, at least one), with one more bare row at the server's thread count, so both
// comparisons are in the table: against what a bare loop gets by default, and at equal threads.
//
// The server runs in a child process (`node --import tsx src/runtime/serve-main.ts`), so
// the load generator and the server do not share an event loop (they do share the cores).
// Each request is a fixed, seeded binary (or JSON) body; every answer is checked (200 and a
// decodable infer response); any other outcome counts as an error.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { concatChunks, decodeInferResponse, encodeInferRequest, parseHeaderLength } from '../src/runtime/kserve.js';
import { parsePrometheusText } from '../src/runtime/metrics.js';
import { defaultIntraOpThreads } from '../src/runtime/serve-main.js';
import { seededFloats } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = path.join(repoRoot, 'fixtures/models/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const SHAPE = [1, 3, 48, 192];
const TOKEN = 'bench-token';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    'max-batch-size': { type: 'string', default: '16' },
    'max-queue-delay-ms': { type: 'string', default: '2' },
    'intra-op-threads': { type: 'string' },
  },
});
const durationS = Number(args.duration);
const warmupS = Number(args.warmup);
const concurrency = Number(args.concurrency);
// The same threading as the server: onnxruntime's default unless --intra-op-threads, no spinning.
const threads = args['intra-op-threads'];
const sessionOptions: ort.InferenceSession.SessionOptions = {
  logSeverityLevel: 4,
  ...(threads !== undefined ? { intraOpNumThreads: Number(threads) } : {}),
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};
const threadArgs = threads !== undefined ? ['--intra-op-threads', threads] : [];

const x = seededFloats(SHAPE.reduce((a, b) => a * b, 1), 7, -0.5, 0.5);

interface Result {
  label: string;
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  samplesPerRequest: number;
  meanBatch?: number;
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `op` in `concurrency` closed loops for warmup + duration; measures the second part only. */
async function closedLoop(label: string, op: () => Promise<boolean>, samplesPerRequest = 1): Promise<Result> {
  const latenciesMs: number[] = [];
  let requests = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await op();
      } catch {
        ok = false;
      }
      if (!measuring) continue;
      requests++;
      if (!ok) errors++;
      latenciesMs.push(performance.now() - t0);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  latenciesMs.sort((a, b) => a - b);
  return { label, requests, errors, seconds, latenciesMs, samplesPerRequest };
}

async function bareSessionRun(batch: number, spin = false, intraOpThreads?: number): Promise<Result> {
  let options = spin ? { ...sessionOptions, extra: { session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' } } } } : sessionOptions;
  if (intraOpThreads !== undefined) options = { ...options, intraOpNumThreads: intraOpThreads };
  const session = await ort.InferenceSession.create(MODEL, options);
  const data = new Float32Array(x.length * batch);
  for (let i = 0; i < batch; i++) data.set(x, i * x.length);
  const feeds = { x: new ort.Tensor('float32', data, [batch, ...SHAPE.slice(1)]) };
  const r = await closedLoop(
    (batch === 1 ? 'bare session.run (batch 1)' : `bare session.run (batch ${batch}, per-sample rate)`) +
      (spin ? ', spinning threads' : '') +
      (intraOpThreads !== undefined ? `, ${intraOpThreads} intra-op thread${intraOpThreads === 1 ? '' : 's'} (the server's default)` : ''),
    async () => {
      const out = await session.run(feeds);
      return out['softmax_0.tmp_0']!.dims[0] === batch;
    },
    batch,
  );
  await session.release();
  return r;
}

interface ServerChild {
  url: URL;
  stop(): Promise<number | null>;
}

async function startServer(extra: string[]): Promise<ServerChild> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-serve-'));
  fs.symlinkSync(MODEL, path.join(dir, 'cls.onnx'));
  fs.writeFileSync(path.join(dir, 'token'), TOKEN);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src/runtime/serve-main.ts'), dir, '--port', '0', '--token-file', path.join(dir, 'token'), '--max-queue', '256', ...threadArgs, ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<URL>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = / at (http:\/\/[^\s]+)\/v2/.exec(out);
      if (m) resolve(new URL(m[1]!));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', (code) => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve(code);
        });
        child.kill('SIGTERM');
      }),
  };
}

function request(agent: http.Agent, url: URL, method: string, urlPath: string, headers: Record<string, string>, body?: Uint8Array): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: urlPath, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function serverLoad(label: string, extra: string[], binary: boolean): Promise<Result> {
  const server = await startServer(extra);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const e = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: SHAPE, data: x }], { binary });
  const body = concatChunks(e.chunks);
  const headers: Record<string, string> = {
    Authorization: `Bearer ${TOKEN}`,
    'Content-Type': e.contentType,
    'Content-Length': String(body.length),
    ...(e.jsonLength !== undefined ? { 'Inference-Header-Content-Length': String(e.jsonLength) } : {}),
  };
  let result: Result;
  try {
    result = await closedLoop(label, async () => {
      const r = await request(agent, server.url, 'POST', '/v2/models/cls/infer', headers, body);
      if (r.status !== 200) return false;
      const out = decodeInferResponse(new Uint8Array(r.body), parseHeaderLength(r.headers['inference-header-content-length'] as string | undefined, r.body.length));
      return out.outputs[0]?.shape[0] === 1;
    });
    const metrics = parsePrometheusText((await request(agent, server.url, 'GET', '/metrics', { Authorization: `Bearer ${TOKEN}` })).body.toString());
    const get = (n: string): number => metrics.find((s) => s.name === n && s.labels.model === 'cls')?.value ?? NaN;
    result.meanBatch = get('splitc_batch_size_sum') / get('splitc_batch_size_count');
  } finally {
    agent.destroy();
    const code = await server.stop();
    if (code !== 0) throw new Error(`server exited with ${code} after SIGTERM`);
  }
  return result;
}

function row(r: Result): string {
  const rps = r.requests / r.seconds;
  const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
  return `| ${r.label} | ${f(rps)} | ${f(rps * r.samplesPerRequest)} | ${f(pct(r.latenciesMs, 50), 2)} | ${f(pct(r.latenciesMs, 99), 2)} | ${r.errors} | ${r.meanBatch !== undefined ? f(r.meanBatch, 2) : '–'} |`;
}

const results: Result[] = [];
const batchArgs = ['--max-batch-size', String(args['max-batch-size']), '--max-queue-delay-ms', String(args['max-queue-delay-ms'])];
process.stderr.write(`serve bench: ${concurrency} clients, ${durationS} s per row after ${warmupS} s warm-up, intra-op threads ${threads ?? 'default'}\n`);
for (const [label, f] of [
  ['bare session.run (batch 1)', () => bareSessionRun(1)],
  ['bare session.run (batch 1), spinning threads', () => bareSessionRun(1, true)],
  ...(threads === undefined ? ([["bare session.run (batch 1), the server's threads", () => bareSessionRun(1, false, defaultIntraOpThreads())]] as const) : []),
  [`bare session.run (batch ${args['max-batch-size']})`, () => bareSessionRun(Number(args['max-batch-size']))],
  ['server, binary, batching off', () => serverLoad('server, binary, batching off', [], true)],
  ['server, binary, batching off, session on the event loop', () => serverLoad('server, binary, batching off, session on the event loop', ['--session-on-main-thread'], true)],
  [`server, binary, batching on`, () => serverLoad(`server, binary, batching on (≤ ${args['max-batch-size']}, ${args['max-queue-delay-ms']} ms)`, batchArgs, true)],
  ['server, JSON, batching off', () => serverLoad('server, JSON, batching off', [], false)],
] as const) {
  process.stderr.write(`  ${label} …\n`);
  results.push(await f());
}

const ortVersion = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`\n${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), Node ${process.version}, onnxruntime-node ${ortVersion}, intra-op threads: ${threads ?? `onnxruntime's default for the bare loop, the server's default (${defaultIntraOpThreads()}) for the server`}, load average after the run: ${load}\n`);
console.log('| setup | requests/s | samples/s | p50 ms | p99 ms | errors | mean batch |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) console.log(row(r));
const errors = results.reduce((a, r) => a + r.errors, 0);
if (errors > 0) {
  console.error(`\n${errors} request(s) failed`);
  process.exit(1);
}
