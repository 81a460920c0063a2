// Seeded fuzz of the server: structurally mutated JSON and binary infer requests, byte-level
// corruption, random bodies, random headers, methods and paths, compressed and mis-labelled
// bodies, and malformed HTTP on raw sockets. The server must answer every one with a
// well-formed HTTP response (a valid result or a JSON error), never crash or hang, hold no
// request afterwards, and still answer a valid request at the end.
import * as http from 'node:http';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { concatChunks, decodeInferResponse, encodeInferRequest, parseHeaderLength } from '../../src/runtime/kserve.js';
import { parsePrometheusText } from '../../src/runtime/metrics.js';
import type { InferenceServer } from '../../src/runtime/server.js';
import { xorshift32 } from '../helpers/onnx-oracle.js';
import { CLS_PATH, seededFloats, startServer, tinyJsonRequest, tinyModelBytes, TOKEN } from './helpers.js';

// CI-sized; bench/fuzz-server.ts runs this file with more cases and other seeds
const SEED = Number(process.env.SPLITC_SERVER_FUZZ_SEED ?? 20240601);
const HTTP_CASES = Number(process.env.SPLITC_SERVER_FUZZ_CASES ?? 2400);
const SOCKET_CASES = Math.max(100, Math.round(HTTP_CASES / 24));
const WIRE_CODES = new Set([
  'E_REQUEST_MALFORMED',
  'E_REQUEST_INPUT',
  'E_REQUEST_OUTPUT',
  'E_REQUEST_DTYPE',
  'E_REQUEST_SHAPE',
  'E_REQUEST_DATA',
  'E_REQUEST_ENCODING',
  'E_BODY_TOO_LARGE',
  'E_UNAUTHORIZED',
  'E_NOT_FOUND',
  'E_METHOD',
  'E_OVERLOADED',
  'E_INFERENCE',
  'E_TIMEOUT',
]);

let srv: { server: InferenceServer; url: string; port: number };
beforeAll(async () => {
  srv = await startServer({
    models: [{ name: 'cls', path: CLS_PATH }, { name: 'tiny', bytes: tinyModelBytes() }],
    maxBodyBytes: 256 * 1024,
    maxQueue: 32,
    maxBatchSize: 4,
    maxQueueDelayMs: 2,
  });
});
afterAll(async () => {
  await srv.server.close();
});

type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const int = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);

function randomValue(rnd: Rnd): unknown {
  return pick(rnd, [
    () => null,
    () => true,
    () => -1,
    () => 0,
    () => 2 ** 53 + 2,
    () => 1e308,
    () => 0.5,
    () => 'x',
    () => '',
    () => 'FP32',
    () => [],
    () => [1, 2],
    () => [[1], [2, 3]],
    () => ({}),
    () => ({ binary_data_size: int(rnd, 64) }),
    () => 'é'.repeat(int(rnd, 10)),
  ])();
}

/** Mutates a JSON value in place at a random spot, a few times. */
function mutateJson(rnd: Rnd, root: Record<string, unknown>): void {
  const steps = 1 + int(rnd, 3);
  for (let s = 0; s < steps; s++) {
    // Walk down to a random container.
    let node: unknown = root;
    for (let depth = 0; depth < 4; depth++) {
      const keys = Array.isArray(node) ? node.map((_, i) => i) : node && typeof node === 'object' ? Object.keys(node) : [];
      if (!keys.length || rnd() < 0.3) break;
      const next = (node as Record<string | number, unknown>)[pick(rnd, keys as (string | number)[])];
      if (!next || typeof next !== 'object') break;
      node = next;
    }
    if (!node || typeof node !== 'object') continue;
    const obj = node as Record<string | number, unknown>;
    const keys = Object.keys(obj);
    const op = int(rnd, 6);
    const datatypes = ['FP32', 'FP16', 'INT64', 'INT8', 'BOOL', 'BYTES', 'UINT64', 'BF16', 'FP64', 'nope'];
    if (op === 0 && keys.length) delete obj[pick(rnd, keys)];
    else if (op === 1 && keys.length) obj[pick(rnd, keys)] = randomValue(rnd);
    else if (op === 2) obj[pick(rnd, ['name', 'shape', 'datatype', 'data', 'parameters', 'outputs', 'id', 'binary_data_output', 'binary_data_size', 'binary_data'])] = randomValue(rnd);
    else if (op === 3 && 'datatype' in obj) obj.datatype = pick(rnd, datatypes);
    else if (op === 4 && Array.isArray(obj.shape)) obj.shape = (obj.shape as number[]).map((d) => (rnd() < 0.5 ? d : pick(rnd, [0, 1, 2, 3, 4, -1, 7, 48, 1e9])));
    else if (op === 5 && Array.isArray(obj)) (obj as unknown[]).push(structuredClone(obj[0] ?? null));
  }
}

function mutateBytes(rnd: Rnd, b: Uint8Array): Uint8Array {
  const out = Buffer.from(b);
  const op = int(rnd, 4);
  if (op === 0) {
    for (let i = 0; i < 1 + int(rnd, 8); i++) if (out.length) out[int(rnd, out.length)] = int(rnd, 256);
    return out;
  }
  if (op === 1) return out.subarray(0, int(rnd, out.length + 1));
  if (op === 2) return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(rnd, 16) }, () => int(rnd, 256)))]);
  const at = int(rnd, out.length + 1);
  return Buffer.concat([out.subarray(0, at), Buffer.from(pick(rnd, ['{', '}', '[', ']', '"', ',', '\\', '\u0000', '\u00ff', 'null']), 'latin1'), out.subarray(at)]);
}

function clsRequest(rnd: Rnd): Record<string, unknown> {
  const h = pick(rnd, [8, 16, 48]);
  const w = pick(rnd, [8, 32]);
  return { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, h, w], data: Array.from(seededFloats(3 * h * w, int(rnd, 1000))) }] };
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

function makeCase(rnd: Rnd): Case {
  const model = rnd() < 0.75 ? 'tiny' : 'cls';
  const base = model === 'tiny' ? tinyJsonRequest(1 + int(rnd, 3)) : clsRequest(rnd);
  const headers: Record<string, string> = {};
  let body: Uint8Array | undefined;
  const kind = int(rnd, 6);
  if (kind <= 1) {
    // Structurally mutated JSON (sometimes left valid), maybe byte-corrupted too.
    if (rnd() < 0.85) mutateJson(rnd, base);
    if (rnd() < 0.3) (base as { parameters?: unknown }).parameters = { binary_data_output: rnd() < 0.7 ? true : randomValue(rnd) };
    body = Buffer.from(JSON.stringify(base));
    if (rnd() < 0.3) body = mutateBytes(rnd, body);
  } else if (kind <= 3) {
    // Binary extension: valid encoding of (maybe mutated) tensors, then a lying header or corrupt bytes.
    const wire = (base.inputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]).map((i) => ({
      name: i.name,
      datatype: i.datatype as 'FP32',
      shape: i.shape,
      data:
        i.datatype === 'FP32'
          ? Float32Array.from(i.data as number[])
          : i.datatype === 'INT64'
            ? BigInt64Array.from(i.data as number[], BigInt)
            : i.datatype === 'BOOL'
              ? Uint8Array.from(i.data as boolean[], Number)
              : (i.data as string[]).map((s) => Buffer.from(s)),
    }));
    const e = encodeInferRequest(wire as never, { binary: true });
    let json = Buffer.from(e.chunks[0]!);
    if (rnd() < 0.5) {
      const obj = JSON.parse(json.toString()) as Record<string, unknown>;
      mutateJson(rnd, obj);
      json = Buffer.from(JSON.stringify(obj));
    }
    body = concatChunks([json, ...e.chunks.slice(1)]);
    let hl: string = String(json.length);
    if (rnd() < 0.4) hl = pick(rnd, [String(json.length + int(rnd, 20) - 10), '0', '-1', 'abc', String(body.length), String(body.length + 1), '99999999999999999999', ' 12 ']);
    headers['Inference-Header-Content-Length'] = hl;
    if (rnd() < 0.4) body = mutateBytes(rnd, body);
  } else if (kind === 4) {
    body = Buffer.from(Array.from({ length: int(rnd, 2048) }, () => int(rnd, 256)));
    if (rnd() < 0.5) headers['Inference-Header-Content-Length'] = String(int(rnd, 3000));
  } else {
    body = rnd() < 0.5 ? Buffer.from(JSON.stringify(base)) : Buffer.from(pick(rnd, ['', '{}', '[]', 'null', '"x"', '{"inputs":null}', '{"inputs":[{}]}', '{"inputs":[1]}']));
  }
  // Encodings: real, mislabelled, or bombs.
  const enc = int(rnd, 10);
  if (enc === 0 && body) {
    body = zlib.gzipSync(body);
    headers['Content-Encoding'] = 'gzip';
  } else if (enc === 1 && body) {
    body = zlib.deflateSync(body);
    headers['Content-Encoding'] = 'deflate';
  } else if (enc === 2) headers['Content-Encoding'] = pick(rnd, ['gzip', 'deflate', 'br', 'zstd', 'gzip, deflate', 'identity', '']);
  else if (enc === 3) {
    body = zlib.gzipSync(Buffer.alloc(int(rnd, 4) * 1024 * 1024 + 1));
    headers['Content-Encoding'] = 'gzip';
  } else if (enc === 4 && body) body = zlib.gzipSync(body).subarray(0, int(rnd, 40));
  if (enc === 4) headers['Content-Encoding'] = 'gzip';

  const authMode = int(rnd, 12);
  if (authMode === 0) {
    /* no token */
  } else if (authMode === 1) headers.Authorization = pick(rnd, ['Bearer', 'Bearer ', `Bearer ${TOKEN}x`, `bearer ${TOKEN}`, `Basic ${TOKEN}`, `Bearer  ${TOKEN} `, 'Bearer \u00e9']);
  else headers.Authorization = `Bearer ${TOKEN}`;
  if (rnd() < 0.2) headers['Content-Type'] = pick(rnd, ['application/json', 'application/octet-stream', 'text/plain', 'multipart/form-data; boundary=x', '*/*']);
  if (rnd() < 0.1) headers[`X-Fuzz-${int(rnd, 100)}`] = 'v'.repeat(int(rnd, 200));

  let method = 'POST';
  let path = pick(rnd, [`/v2/models/${model}/infer`, `/v2/models/${model}/versions/1/infer`]);
  const route = int(rnd, 10);
  if (route === 0) {
    method = pick(rnd, ['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
  } else if (route === 1) {
    path = pick(rnd, [
      '/v2',
      '/v2/',
      '/v2/health/live',
      '/v2/health/ready',
      '/metrics',
      `/v2/models/${model}`,
      `/v2/models/${model}/ready`,
      '/v2/models/nope/infer',
      '/v2/models//infer',
      `/v2/models/${model}/versions/2/infer`,
      '/v2/models/%zz/infer',
      '/v2/models/%2e%2e/infer',
      `/v2/models/${model}/infer?x=1`,
      '/',
      '/v2/models',
      '/v2/models/cls/infer/extra',
    ]);
    if (rnd() < 0.5) method = 'GET';
  }
  if (method === 'GET' || method === 'HEAD') body = rnd() < 0.8 ? undefined : body;
  // Node's client frames a GET/HEAD/DELETE/OPTIONS body only with an explicit length.
  if (body) headers['Content-Length'] = String(body.length);
  return { method, path, headers, body };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function send(port: number, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers: c.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer in 15 s to ${c.method} ${c.path}`)));
    req.on('error', (e) => reject(new Error(`${c.method} ${c.path} ${JSON.stringify(c.headers).slice(0, 300)} body ${c.body?.length ?? 0} bytes: ${e.message}`)));
    req.end(c.body);
  });
}

function checkAnswer(c: Case, a: Answer): void {
  const where = `${c.method} ${c.path} ${JSON.stringify(c.headers).slice(0, 200)} → ${a.status} ${a.body.toString('latin1').slice(0, 200)}`;
  expect([200, 204, 400, 401, 404, 405, 413, 415, 503], where).toContain(a.status);
  if (c.method === 'HEAD' || a.status === 204) {
    expect(a.body.length, where).toBe(0);
    return;
  }
  if (a.status !== 200) {
    expect(a.headers['content-type'], where).toBe('application/json');
    const body = JSON.parse(a.body.toString('utf8')) as { error: unknown; code: unknown };
    expect(typeof body.error, where).toBe('string');
    expect(WIRE_CODES.has(body.code as string), where).toBe(true);
    return;
  }
  if (c.path.includes('/infer')) {
    const hl = parseHeaderLength(a.headers['inference-header-content-length'] as string | undefined, a.body.length);
    const d = decodeInferResponse(new Uint8Array(a.body), hl);
    expect(d.outputs.length, where).toBeGreaterThan(0);
  } else if (c.path === '/metrics') parsePrometheusText(a.body.toString('utf8'));
  else JSON.parse(a.body.toString('utf8'));
}

function rawSocket(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
    let data = '';
    s.setTimeout(15_000, () => s.destroy(new Error('raw socket: no answer in 15 s')));
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('end', () => resolve(data));
    s.on('close', () => resolve(data));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(data) : reject(e)));
  });
}

it(`survives ${HTTP_CASES} fuzzed HTTP requests and ${SOCKET_CASES} malformed connections (seed ${SEED})`, async () => {
  const rnd = xorshift32(SEED);
  const cases = Array.from({ length: HTTP_CASES }, () => makeCase(rnd));
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++]!;
      const a = await send(srv.port, c);
      checkAnswer(c, a);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  // Every kind of outcome was exercised, including successes.
  for (const s of [200, 400, 401, 404, 405, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s}: ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);

  // Malformed HTTP on raw sockets: a JSON 4xx or a closed connection, never a crash.
  for (let i = 0; i < SOCKET_CASES; i++) {
    const kind = i % 4;
    const bytes =
      kind === 0
        ? Buffer.from(Array.from({ length: 1 + int(rnd, 300) }, () => int(rnd, 256)))
        : kind === 1
          ? Buffer.from(`POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${pick(rnd, ['-1', 'abc', '1, 2', '99999999999999999999'])}\r\n\r\n{}`)
          : kind === 2
            ? Buffer.from(`GET /v2 HTTP/1.1\r\n${'X-Long: ' + 'a'.repeat(20000 + int(rnd, 60000))}\r\n\r\n`)
            : Buffer.from(`POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${pick(rnd, ['zz\r\n', '5\r\nab', '-1\r\n\r\n', 'ffffffffffffffffff\r\n'])}`);
    const reply = await rawSocket(srv.port, bytes);
    if (reply === '') continue; // the server may just close a connection that is not HTTP
    expect(reply, JSON.stringify(bytes.toString('latin1').slice(0, 80))).toMatch(/^HTTP\/1\.1 (400|401|404|405|413|431) /);
    // The first response on the connection (a well-formed prefix may have been answered before the garbage).
    const headEnd = reply.indexOf('\r\n\r\n');
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(reply.slice(0, headEnd))?.[1]);
    const body = reply.slice(headEnd + 4, headEnd + 4 + length);
    expect(typeof (JSON.parse(body) as { error: unknown }).error).toBe('string');
  }

  // Nothing is left held, and a valid request still succeeds.
  expect(srv.server.stats().heldRequests).toBe(0);
  const e = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: seededFloats(3 * 48 * 192, 1) }]);
  const ok = await send(srv.port, {
    method: 'POST',
    path: '/v2/models/cls/infer',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Inference-Header-Content-Length': String(e.jsonLength) },
    body: concatChunks(e.chunks),
  });
  expect(ok.status).toBe(200);
  const out = decodeInferResponse(new Uint8Array(ok.body), parseHeaderLength(ok.headers['inference-header-content-length'] as string, ok.body.length)).outputs;
  expect(out[0]!.shape).toEqual([1, 2]);
}, Math.max(60_000, HTTP_CASES * 25));
