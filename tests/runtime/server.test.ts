// The inference server end to end on 127.0.0.1: happy paths checked bit for bit against a
// direct onnxruntime-node run, every rejection path (status, JSON body, stable code, and the
// server still serving afterwards), metrics, and graceful close.
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatChunks, decodeInferResponse, encodeInferRequest, parseHeaderLength, type WireTensor } from '../../src/runtime/kserve.js';
import { parsePrometheusText } from '../../src/runtime/metrics.js';
import { createInferenceServer, type InferenceServer } from '../../src/runtime/server.js';
import {
  auth,
  bytesOf,
  CLS_OUT,
  CLS_PATH,
  CLS_SHAPE,
  directRun,
  jsonOf,
  rawRequest,
  type RawResponse,
  seededFloats,
  startServer,
  tinyJsonRequest,
  tinyModelBytes,
  TOKEN,
} from './helpers.js';

const N = CLS_SHAPE.reduce((a, b) => a * b, 1);
const INFER = '/v2/models/cls/infer';

function binaryBody(x: Float32Array, shape = CLS_SHAPE, extra: { datatype?: 'FP32' | 'FP16'; name?: string } = {}): { body: Uint8Array; headers: Record<string, string | number> } {
  const t: WireTensor = { name: extra.name ?? 'x', datatype: extra.datatype ?? 'FP32', shape, data: x };
  const e = encodeInferRequest([t], { binary: true });
  return { body: concatChunks(e.chunks), headers: { 'Content-Type': e.contentType, 'Inference-Header-Content-Length': e.jsonLength! } };
}

function jsonBody(x: ArrayLike<number>, shape = CLS_SHAPE, datatype = 'FP32', name = 'x'): string {
  return JSON.stringify({ inputs: [{ name, datatype, shape, data: Array.from(x) }] });
}

function decodeOutputs(r: RawResponse): Record<string, WireTensor> {
  expect(r.status, r.body.toString().slice(0, 300)).toBe(200);
  const hl = r.headers['inference-header-content-length'];
  const d = decodeInferResponse(new Uint8Array(r.body), parseHeaderLength(hl as string | undefined, r.body.length));
  return Object.fromEntries(d.outputs.map((o) => [o.name, o]));
}

function expectJsonError(r: RawResponse, status: number, code: string): Record<string, unknown> {
  expect({ status: r.status, body: r.body.toString().slice(0, 300) }).toMatchObject({ status });
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = jsonOf(r);
  expect(typeof body.error).toBe('string');
  expect(body.code).toBe(code);
  return body;
}

let srv: { server: InferenceServer; url: string; port: number };
let x: Float32Array;
let expected: Buffer;
const tinyBytes = tinyModelBytes();

beforeAll(async () => {
  srv = await startServer({ models: [{ name: 'cls', path: CLS_PATH }, { name: 'tiny', bytes: tinyBytes, version: '7' }] });
  x = seededFloats(N, 42);
  const out = await directRun(CLS_PATH, { x: new ort.Tensor('float32', x, CLS_SHAPE) });
  expected = bytesOf(out[CLS_OUT]!.data as Float32Array);
});
afterAll(async () => {
  await srv.server.close();
});

async function goodRequestSucceeds(port = srv.port): Promise<void> {
  const { body, headers } = binaryBody(x);
  const r = await rawRequest(port, 'POST', INFER, { headers: auth(headers), body });
  expect(r.status).toBe(200);
}

describe('happy paths', () => {
  it('JSON infer equals a direct session.run bit for bit', async () => {
    const r = await rawRequest(srv.port, 'POST', INFER, { headers: auth({ 'Content-Type': 'application/json' }), body: jsonBody(x) });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['inference-header-content-length']).toBeUndefined();
    const body = jsonOf(r) as { model_name: string; model_version: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
    expect(body.model_name).toBe('cls');
    expect(body.model_version).toBe('1');
    expect(body.outputs[0]).toMatchObject({ name: CLS_OUT, datatype: 'FP32', shape: [1, 2] });
    expect(bytesOf(Float32Array.from(body.outputs[0]!.data))).toEqual(expected);
  });

  it('binary infer equals a direct session.run bit for bit', async () => {
    const { body, headers } = binaryBody(x);
    const r = await rawRequest(srv.port, 'POST', INFER, { headers: auth(headers), body });
    expect(r.headers['content-type']).toBe('application/octet-stream');
    const out = decodeOutputs(r);
    expect(bytesOf(out[CLS_OUT]!.data as Float32Array)).toEqual(expected);
  });

  for (const enc of ['gzip', 'deflate'] as const) {
    it(`${enc} request bodies (binary and JSON)`, async () => {
      const { body, headers } = binaryBody(x);
      const packed = enc === 'gzip' ? zlib.gzipSync(body) : zlib.deflateSync(body);
      const r = await rawRequest(srv.port, 'POST', INFER, { headers: auth({ ...headers, 'Content-Encoding': enc }), body: packed });
      expect(bytesOf(decodeOutputs(r)[CLS_OUT]!.data as Float32Array)).toEqual(expected);
      const j = Buffer.from(jsonBody(x));
      const packedJson = enc === 'gzip' ? zlib.gzipSync(j) : zlib.deflateSync(j);
      const rj = await rawRequest(srv.port, 'POST', INFER, { headers: auth({ 'Content-Encoding': enc }), body: packedJson });
      expect(rj.status).toBe(200);
    });
  }

  it('every datatype of the tiny model, JSON and binary, named outputs, versions', async () => {
    const req = tinyJsonRequest(3);
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of req.inputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]) {
      const t = i.datatype === 'FP32' ? 'float32' : i.datatype === 'INT64' ? 'int64' : i.datatype === 'BOOL' ? 'bool' : 'string';
      const data =
        t === 'float32' ? Float32Array.from(i.data as number[]) : t === 'int64' ? BigInt64Array.from((i.data as number[]).map(BigInt)) : t === 'bool' ? Uint8Array.from((i.data as boolean[]).map(Number)) : (i.data as string[]);
      feeds[i.name] = new ort.Tensor(t as 'float32', data as Float32Array, i.shape);
    }
    const direct = await directRun(tinyBytes, feeds);
    const r = await rawRequest(srv.port, 'POST', '/v2/models/tiny/versions/7/infer', { headers: auth(), body: JSON.stringify(req) });
    const body = jsonOf(r) as { id: string; model_version: string; outputs: { name: string; data: unknown[] }[] };
    expect(r.status).toBe(200);
    expect(body.id).toBe('tiny-1');
    expect(body.model_version).toBe('7');
    const got = Object.fromEntries(body.outputs.map((o) => [o.name, o.data]));
    expect(got.a2).toEqual(Array.from(direct.a2!.data as Float32Array));
    expect(got.k2).toEqual(Array.from(direct.k2!.data as BigInt64Array, Number));
    expect(got.nc).toEqual(Array.from(direct.nc!.data as Uint8Array, Boolean));
    expect(got.s2).toEqual(direct.s2!.data);

    // Binary, asking for two outputs in a chosen order, one binary and one JSON.
    const wire: WireTensor[] = Object.entries(feeds).map(([name, t]) => ({
      name,
      datatype: t.type === 'float32' ? 'FP32' : t.type === 'int64' ? 'INT64' : t.type === 'bool' ? 'BOOL' : 'BYTES',
      shape: [...t.dims],
      data: t.type === 'string' ? (t.data as string[]).map((s) => new TextEncoder().encode(s)) : (t.data as Float32Array),
    }));
    const e = encodeInferRequest(wire, { binary: true, binaryOutputs: false });
    const text = new TextDecoder().decode(e.chunks[0]).replace(/}$/, ',"outputs":[{"name":"s2","parameters":{"binary_data":true}},{"name":"k2"}]}');
    const head = new TextEncoder().encode(text);
    const rb = await rawRequest(srv.port, 'POST', '/v2/models/tiny/infer', {
      headers: auth({ 'Inference-Header-Content-Length': head.length }),
      body: concatChunks([head, ...e.chunks.slice(1)]),
    });
    const out = decodeOutputs(rb);
    expect(Object.keys(out)).toEqual(['s2', 'k2']);
    expect((out.s2!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b))).toEqual(direct.s2!.data);
    expect(Array.from(out.k2!.data as BigInt64Array)).toEqual(Array.from(direct.k2!.data as BigInt64Array));
  });

  it('metadata and health endpoints', async () => {
    const live = await rawRequest(srv.port, 'GET', '/v2/health/live'); // no token needed for probes
    expect([live.status, jsonOf(live)]).toEqual([200, { live: true }]);
    const ready = await rawRequest(srv.port, 'GET', '/v2/health/ready');
    expect([ready.status, jsonOf(ready)]).toEqual([200, { ready: true }]);
    const server = await rawRequest(srv.port, 'GET', '/v2', { headers: auth() });
    expect(jsonOf(server)).toMatchObject({ name: 'splitc', extensions: ['binary_tensor_data'] });
    const meta = await rawRequest(srv.port, 'GET', '/v2/models/cls', { headers: auth() });
    expect(jsonOf(meta)).toEqual({
      name: 'cls',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: CLS_OUT, datatype: 'FP32', shape: [-1, 2] }],
    });
    const metaV = await rawRequest(srv.port, 'GET', '/v2/models/tiny/versions/7', { headers: auth() });
    expect(jsonOf(metaV)).toMatchObject({ name: 'tiny', versions: ['7'], inputs: [{ name: 'a', datatype: 'FP32', shape: [-1, 4] }, { name: 'k', datatype: 'INT64' }, { name: 'c', datatype: 'BOOL' }, { name: 's', datatype: 'BYTES', shape: [-1] }] });
    const mready = await rawRequest(srv.port, 'GET', '/v2/models/cls/ready', { headers: auth() });
    expect(mready.status).toBe(200);
    const head = await rawRequest(srv.port, 'HEAD', '/v2/models/cls/ready', { headers: auth() });
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it('metrics parse as Prometheus text and count requests by model and status', async () => {
    const before = parsePrometheusText((await rawRequest(srv.port, 'GET', '/metrics', { headers: auth() })).body.toString());
    const count = (samples: typeof before, status: string): number =>
      samples.find((s) => s.name === 'splitc_infer_requests_total' && s.labels.model === 'cls' && s.labels.status === status)?.value ?? 0;
    for (let i = 0; i < 3; i++) await goodRequestSucceeds();
    await rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: '{' });
    const r = await rawRequest(srv.port, 'GET', '/metrics', { headers: auth() });
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    const after = parsePrometheusText(r.body.toString());
    expect(count(after, '200') - count(before, '200')).toBe(3);
    expect(count(after, '400') - count(before, '400')).toBe(1);
    const latencyCount = after.find((s) => s.name === 'splitc_infer_request_duration_seconds_count' && s.labels.model === 'cls')!.value;
    const infBucket = after.find((s) => s.name === 'splitc_infer_request_duration_seconds_bucket' && s.labels.model === 'cls' && s.labels.le === '+Inf')!.value;
    expect(infBucket).toBe(latencyCount);
    expect(after.some((s) => s.name === 'splitc_batch_size_count' && s.labels.model === 'cls' && s.value > 0)).toBe(true);
    expect(after.find((s) => s.name === 'splitc_queue_depth')?.value).toBe(0);
    // Metrics need the token like everything but the health probes.
    expectJsonError(await rawRequest(srv.port, 'GET', '/metrics'), 401, 'E_UNAUTHORIZED');
  });
});

describe('rejections: right status, JSON error, and the server keeps serving', () => {
  const cases: [string, () => Promise<RawResponse>, number, string][] = [
    ['missing token', () => rawRequest(srv.port, 'POST', INFER, { body: jsonBody(x) }), 401, 'E_UNAUTHORIZED'],
    ['wrong token', () => rawRequest(srv.port, 'POST', INFER, { headers: { Authorization: `Bearer ${TOKEN}x` }, body: jsonBody(x) }), 401, 'E_UNAUTHORIZED'],
    ['wrong scheme', () => rawRequest(srv.port, 'GET', '/v2', { headers: { Authorization: `Basic ${TOKEN}` } }), 401, 'E_UNAUTHORIZED'],
    ['malformed JSON', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: '{"inputs": [{"name": "x",' }), 400, 'E_REQUEST_MALFORMED'],
    ['empty body', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: '' }), 400, 'E_REQUEST_MALFORMED'],
    ['wrong tensor name', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(x, CLS_SHAPE, 'FP32', 'image') }), 400, 'E_REQUEST_INPUT'],
    ['wrong dtype', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(new Array(N).fill(0), CLS_SHAPE, 'INT32') }), 400, 'E_REQUEST_DTYPE'],
    ['unknown dtype', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(x, CLS_SHAPE, 'FLOAT32') }), 400, 'E_REQUEST_DTYPE'],
    ['static dim mismatch', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(new Float32Array(4 * 48 * 192), [1, 4, 48, 192]) }), 400, 'E_REQUEST_SHAPE'],
    ['wrong rank', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(x, [3, 48, 192]) }), 400, 'E_REQUEST_SHAPE'],
    ['element count ≠ shape', () => rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody(x.subarray(1)) }), 400, 'E_REQUEST_DATA'],
    ['binary size ≠ shape', () => {
      const { body, headers } = binaryBody(x, [1, 3, 48, 191]);
      return rawRequest(srv.port, 'POST', INFER, { headers: auth(headers), body });
    }, 400, 'E_REQUEST_DATA'],
    ['missing input', () => {
      const req = tinyJsonRequest(1);
      (req.inputs as unknown[]).pop();
      return rawRequest(srv.port, 'POST', '/v2/models/tiny/infer', { headers: auth(), body: JSON.stringify(req) });
    }, 400, 'E_REQUEST_INPUT'],
    ['unknown output', () => {
      const req = { ...tinyJsonRequest(1), outputs: [{ name: 'nope' }] };
      return rawRequest(srv.port, 'POST', '/v2/models/tiny/infer', { headers: auth(), body: JSON.stringify(req) });
    }, 400, 'E_REQUEST_OUTPUT'],
    ['binary header length that lies (short)', () => {
      const { body, headers } = binaryBody(x);
      return rawRequest(srv.port, 'POST', INFER, { headers: auth({ ...headers, 'Inference-Header-Content-Length': Number(headers['Inference-Header-Content-Length']) - 5 }), body });
    }, 400, 'E_REQUEST_MALFORMED'],
    ['binary header length that lies (past the body)', () => {
      const { body, headers } = binaryBody(x);
      return rawRequest(srv.port, 'POST', INFER, { headers: auth({ ...headers, 'Inference-Header-Content-Length': body.length + 10 }), body });
    }, 400, 'E_REQUEST_MALFORMED'],
    ['binary header length not a number', () => {
      const { body, headers } = binaryBody(x);
      return rawRequest(srv.port, 'POST', INFER, { headers: auth({ ...headers, 'Inference-Header-Content-Length': '1e3' }), body });
    }, 400, 'E_REQUEST_MALFORMED'],
    ['truncated binary payload', () => {
      const { body, headers } = binaryBody(x);
      return rawRequest(srv.port, 'POST', INFER, { headers: auth(headers), body: body.subarray(0, body.length - 100) });
    }, 400, 'E_REQUEST_MALFORMED'],
    ['corrupt gzip', () => rawRequest(srv.port, 'POST', INFER, { headers: auth({ 'Content-Encoding': 'gzip' }), body: 'not gzip at all' }), 400, 'E_REQUEST_ENCODING'],
    ['unsupported encoding', () => rawRequest(srv.port, 'POST', INFER, { headers: auth({ 'Content-Encoding': 'br' }), body: jsonBody(x) }), 415, 'E_REQUEST_ENCODING'],
    ['unknown model', () => rawRequest(srv.port, 'POST', '/v2/models/nope/infer', { headers: auth(), body: jsonBody(x) }), 404, 'E_NOT_FOUND'],
    ['unknown version', () => rawRequest(srv.port, 'GET', '/v2/models/cls/versions/9', { headers: auth() }), 404, 'E_NOT_FOUND'],
    ['unknown route', () => rawRequest(srv.port, 'GET', '/v1/models/cls', { headers: auth() }), 404, 'E_NOT_FOUND'],
    ['bad percent-escape', () => rawRequest(srv.port, 'GET', '/v2/models/%E0%A4%A/ready', { headers: auth() }), 400, 'E_REQUEST_MALFORMED'],
    ['wrong method on infer', () => rawRequest(srv.port, 'GET', INFER, { headers: auth() }), 405, 'E_METHOD'],
    ['wrong method on metadata', () => rawRequest(srv.port, 'DELETE', '/v2/models/cls', { headers: auth() }), 405, 'E_METHOD'],
  ];
  for (const [name, send, status, code] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const r = await send();
      expectJsonError(r, status, code);
      if (status === 401) expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="splitc"/);
      if (status === 405) expect(r.headers.allow).toBeDefined();
      await goodRequestSucceeds();
    });
  }

  it('onnxruntime errors on requests that pass validation → 400 E_INFERENCE', async () => {
    // A 0×0 image passes the metadata check (H and W are dynamic) but not the first Conv.
    const r = await rawRequest(srv.port, 'POST', INFER, { headers: auth(), body: jsonBody([], [1, 3, 0, 0]) });
    expect(expectJsonError(r, 400, 'E_INFERENCE').error).toMatch(/Conv/);
    await goodRequestSucceeds();
  });

  it('malformed HTTP gets a JSON 400 and the server keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(srv.port, '127.0.0.1', () => s.end('GARBAGE \x01\x02 HTTP/9.9\r\n\r\n'));
      let data = '';
      s.on('data', (c) => (data += c.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'E_REQUEST_MALFORMED' });
    await goodRequestSucceeds();
  });
});

describe('body limits', () => {
  let limited: { server: InferenceServer; port: number };
  const limit = 150_000; // a binary classifier request (≈110 kB) fits, its JSON form (≈500 kB) does not
  beforeAll(async () => {
    limited = await startServer({ maxBodyBytes: limit });
  });
  afterAll(async () => {
    await limited.server.close();
  });

  it('oversized body with Content-Length → 413', async () => {
    const r = await rawRequest(limited.port, 'POST', INFER, { headers: auth(), body: jsonBody(x) });
    expectJsonError(r, 413, 'E_BODY_TOO_LARGE');
    await goodRequestSucceeds(limited.port);
  });

  it('oversized chunked body (no Content-Length) → 413', async () => {
    const r = await rawRequest(limited.port, 'POST', INFER, { headers: auth({ 'Transfer-Encoding': 'chunked' }), body: jsonBody(x) });
    expectJsonError(r, 413, 'E_BODY_TOO_LARGE');
    await goodRequestSucceeds(limited.port);
  });

  it('a gzip bomb (small on the wire, huge decompressed) → 413', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(limit);
    const r = await rawRequest(limited.port, 'POST', INFER, { headers: auth({ 'Content-Encoding': 'gzip' }), body: bomb });
    expectJsonError(r, 413, 'E_BODY_TOO_LARGE');
    const dbomb = zlib.deflateSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    expectJsonError(await rawRequest(limited.port, 'POST', INFER, { headers: auth({ 'Content-Encoding': 'deflate' }), body: dbomb }), 413, 'E_BODY_TOO_LARGE');
    await goodRequestSucceeds(limited.port);
  });
});

describe('queue', () => {
  it('a full queue → 503 with Retry-After, and the server recovers', async () => {
    // The batching delay holds the admitted request for a while, so the others find the queue full.
    const q = await startServer({ maxQueue: 1, maxBatchSize: 4, maxQueueDelayMs: 200 });
    try {
      const { body, headers } = binaryBody(x);
      const rs = await Promise.all(Array.from({ length: 12 }, () => rawRequest(q.port, 'POST', INFER, { headers: auth(headers), body, agent: false })));
      const statuses = rs.map((r) => r.status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
      const rejected = rs.filter((r) => r.status === 503);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      for (const r of rejected) {
        expectJsonError(r, 503, 'E_OVERLOADED');
        expect(r.headers['retry-after']).toBe('1');
      }
      await goodRequestSucceeds(q.port);
    } finally {
      await q.server.close();
    }
  });
});

describe('graceful close', () => {
  it('an in-flight request completes when close() is called; then new connections are refused', async () => {
    // A long batching delay keeps the request in the server while close() starts.
    const s = await startServer({ maxBatchSize: 8, maxQueueDelayMs: 400 });
    const { body, headers } = binaryBody(x);
    const pending = rawRequest(s.port, 'POST', INFER, { headers: auth(headers), body, agent: false });
    while (s.server.stats().heldRequests === 0) await new Promise((r) => setTimeout(r, 5));
    const closing = s.server.close();
    const r = await pending;
    expect(bytesOf(decodeOutputs(r)[CLS_OUT]!.data as Float32Array)).toEqual(expected);
    await closing;
    await expect(rawRequest(s.port, 'GET', '/v2/health/live', { agent: false })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a client that goes away while queued is dropped, counted as aborted, and leaves nothing held', async () => {
    const s = await startServer({ maxBatchSize: 8, maxQueueDelayMs: 300 });
    try {
      const { body, headers } = binaryBody(x);
      const sock = net.connect(s.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const head = Object.entries(auth({ ...headers, 'Content-Length': body.length })).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`POST ${INFER} HTTP/1.1\r\nHost: x\r\n${head}\r\n`);
      sock.write(body);
      while (s.server.stats().waiting['cls@1'] === 0) await new Promise((r) => setTimeout(r, 5));
      sock.destroy();
      while (s.server.stats().heldRequests > 0) await new Promise((r) => setTimeout(r, 5));
      const samples = parsePrometheusText((await rawRequest(s.port, 'GET', '/metrics', { headers: auth(), agent: false })).body.toString());
      expect(samples.find((m) => m.name === 'splitc_infer_requests_total' && m.labels.status === 'aborted')?.value).toBe(1);
      expect(samples.find((m) => m.name === 'splitc_batch_size_count')?.value ?? 0).toBe(0); // it never ran
      await goodRequestSucceeds(s.port);
    } finally {
      await s.server.close();
    }
  });

  it('refuses to start without a token unless auth is disabled explicitly', async () => {
    await expect(createInferenceServer({ models: [{ name: 'cls', path: CLS_PATH }] })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    const open = await createInferenceServer({ models: [{ name: 'cls', path: CLS_PATH }], auth: false });
    const a = await open.listen(0);
    const r = await rawRequest(a.port, 'GET', '/v2/models/cls', { agent: false });
    expect(r.status).toBe(200);
    await open.close();
  });

  it('answers CORS preflights and exposes the binary header when a CORS origin is set', async () => {
    const c = await startServer({ corsOrigin: 'https://edge.example' });
    try {
      const pre = await rawRequest(c.port, 'OPTIONS', INFER, {
        headers: { Origin: 'https://edge.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,inference-header-content-length' },
        agent: false,
      });
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('https://edge.example');
      expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization.*Inference-Header-Content-Length/);
      const { body, headers } = binaryBody(x);
      const r = await rawRequest(c.port, 'POST', INFER, { headers: auth({ ...headers, Origin: 'https://edge.example' }), body, agent: false });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-expose-headers']).toBe('Inference-Header-Content-Length, Server-Timing');
      // Without a CORS origin, OPTIONS is just another method.
      expect((await rawRequest(srv.port, 'OPTIONS', INFER, { headers: auth() })).status).toBe(405);
    } finally {
      await c.server.close();
    }
  });

  it('a model onnxruntime cannot load fails the start with E_MODEL_LOAD', async () => {
    await expect(createInferenceServer({ models: [{ name: 'bad', bytes: new Uint8Array([1, 2, 3]) }], auth: false })).rejects.toMatchObject({ code: 'E_MODEL_LOAD' });
  });
});
