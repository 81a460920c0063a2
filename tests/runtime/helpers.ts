// Helpers for the runtime tests: a raw HTTP client (any method, headers and bytes), the
// classifier fixture, a tiny multi-dtype model, and direct onnxruntime runs to compare with.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { type InferenceServer, type InferenceServerOptions, createInferenceServer } from '../../src/runtime/server.js';
import { fixturesDir, repoRoot } from '../helpers/fixtures.js';
import { xorshift32 } from '../helpers/onnx-oracle.js';

export const CLS_PATH = path.join(fixturesDir, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
export const CLS_SHAPE = [1, 3, 48, 192];
export const CLS_OUT = 'softmax_0.tmp_0';
export const TOKEN = 'test-token-0123456789';
/** Same options for the server and for direct runs, so outputs can be compared bit for bit. */
export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };

export function seededFloats(n: number, seed: number): Float32Array {
  const rnd = xorshift32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rnd() * 2 - 1;
  return a;
}

/** A model with every kind of input the protocol carries: FP32, INT64, BOOL and BYTES, all batchable. */
export function tinyModelBytes(): Uint8Array {
  const b = new GraphBuilder('tiny');
  const a = b.input('a', DataType.FLOAT, ['N', 4]);
  const k = b.input('k', DataType.INT64, ['N', 3]);
  const c = b.input('c', DataType.BOOL, ['N', 2]);
  const s = b.input('s', DataType.STRING, ['N']);
  b.output(b.op('Mul', [a, a], {}, { outputNames: ['a2'] }), { dtype: DataType.FLOAT, shape: ['N', 4] });
  b.output(b.op('Add', [k, k], {}, { outputNames: ['k2'] }), { dtype: DataType.INT64, shape: ['N', 3] });
  b.output(b.op('Not', [c], {}, { outputNames: ['nc'] }), { dtype: DataType.BOOL, shape: ['N', 2] });
  b.output(b.op('Identity', [s], {}, { outputNames: ['s2'] }), { dtype: DataType.STRING, shape: ['N'] });
  return modelToBytes(b.model({ opset: 17 }));
}

/** A valid JSON request for the tiny model. */
export function tinyJsonRequest(rows = 1): Record<string, unknown> {
  return {
    id: 'tiny-1',
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [rows, 4], data: Array.from({ length: rows * 4 }, (_, i) => i * 0.5 - 1) },
      { name: 'k', datatype: 'INT64', shape: [rows, 3], data: Array.from({ length: rows * 3 }, (_, i) => i - 2) },
      { name: 'c', datatype: 'BOOL', shape: [rows, 2], data: Array.from({ length: rows * 2 }, (_, i) => i % 2 === 0) },
      { name: 's', datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, (_, i) => `héllo ${i}`) },
    ],
  };
}

export async function startServer(opts: Partial<InferenceServerOptions> = {}): Promise<{ server: InferenceServer; url: string; port: number }> {
  const server = await createInferenceServer({
    models: [{ name: 'cls', path: CLS_PATH }],
    token: TOKEN,
    sessionOptions: SESSION_OPTIONS,
    ...opts,
  });
  const a = await server.listen(0, '127.0.0.1');
  return { server, url: a.url, port: a.port };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request with exactly these headers and bytes (no automatic auth). */
export function rawRequest(
  port: number,
  method: string,
  urlPath: string,
  opts: { headers?: Record<string, string | number>; body?: Uint8Array | string; agent?: http.Agent | false } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers: opts.headers ?? {}, agent: opts.agent === undefined ? agent : opts.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export function auth(extra: Record<string, string | number> = {}): Record<string, string | number> {
  return { Authorization: `Bearer ${TOKEN}`, ...extra };
}

export function jsonOf(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
}

/** Direct onnxruntime-node run with the server's session options. */
export async function directRun(modelPath: string | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = typeof modelPath === 'string' ? await ort.InferenceSession.create(modelPath, SESSION_OPTIONS) : await ort.InferenceSession.create(modelPath, SESSION_OPTIONS);
  try {
    return (await s.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await s.release();
  }
}

export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** `splitc serve <a folder with the classifier>` as a child process (the real CLI), with the port it listens on and its stderr so far. */
export async function spawnServe(extra: string[] = []): Promise<{ child: import('node:child_process').ChildProcess; port: number; dir: string; stderr: () => string }> {
  const { spawn } = await import('node:child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-serve-'));
  fs.copyFileSync(CLS_PATH, path.join(dir, 'cls.onnx'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', dir, '--port', '0', ...extra], {
    cwd: repoRoot,
    env: { ...process.env, SPLITC_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = / at http:\/\/127\.0\.0\.1:(\d+)\/v2/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`the server exited before listening: ${stderr}`)));
  });
  return { child, port, dir, stderr: () => stderr };
}

/** spawnServe for one test file: every server it starts is killed, and its folder removed, after the file's tests. */
export function serversOfFile(): (extra: string[]) => Promise<{ child: import('node:child_process').ChildProcess; port: number }> {
  const started: { child: import('node:child_process').ChildProcess; dir: string }[] = [];
  afterAll(() => {
    for (const { child, dir } of started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return async (extra) => {
    const s = await spawnServe(extra);
    started.push(s);
    return s;
  };
}
