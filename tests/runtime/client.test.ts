// The fetch-based client against the real server: binary and JSON, gzip and deflate
// (CompressionStream), every datatype of the tiny model, errors that carry the server's
// status and code, and interop with onnxruntime-web tensors (what edge bundles hold).
import * as net from 'node:net';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKServeClient, KServeClientError, parseServerTiming } from '../../src/runtime/client.js';
import type { InferenceServer } from '../../src/runtime/server.js';
import { bytesOf, CLS_OUT, CLS_PATH, CLS_SHAPE, directRun, seededFloats, startServer, tinyModelBytes, TOKEN } from './helpers.js';

let srv: { server: InferenceServer; url: string; port: number };

/** A port on 127.0.0.1 nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
let x: Float32Array;
let expected: Buffer;
const tiny = tinyModelBytes();

beforeAll(async () => {
  srv = await startServer({ models: [{ name: 'cls', path: CLS_PATH }, { name: 'tiny', bytes: tiny }], maxBodyBytes: 1 << 20 });
  x = seededFloats(CLS_SHAPE.reduce((a, b) => a * b, 1), 5);
  expected = bytesOf((await directRun(CLS_PATH, { x: new ort.Tensor('float32', x, CLS_SHAPE) }))[CLS_OUT]!.data as Float32Array);
});
afterAll(async () => {
  await srv.server.close();
});

describe('client', () => {
  for (const binary of [true, false]) {
    for (const compress of [false, 'gzip', 'deflate'] as const) {
      it(`infers bit-exactly (${binary ? 'binary' : 'JSON'}, compress=${compress})`, async () => {
        let sentEncoding: string | null = null;
        const spy: typeof fetch = async (input, init) => {
          sentEncoding = new Headers(init?.headers).get('content-encoding');
          return fetch(input, init);
        };
        const c = createKServeClient({ endpoint: srv.url + '/', token: TOKEN, model: 'cls', binary, compress, fetch: spy });
        const out = await c.infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: x } });
        expect(out[CLS_OUT]).toMatchObject({ dtype: 'float32', datatype: 'FP32', dims: [1, 2] });
        expect(bytesOf(out[CLS_OUT]!.data as Float32Array)).toEqual(expected);
        expect(sentEncoding).toBe(compress === false ? null : compress);
      });
    }
  }

  it('carries every datatype of the tiny model, with KServe or ort dtype names and plain arrays', async () => {
    const c = createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'tiny' });
    const out = await c.infer(
      {
        a: { dtype: 'FP32', dims: [2, 4], data: [1, -2, 3, -4, 0.5, 6, 7, 8] },
        k: { dtype: 'int64', dims: [2, 3], data: BigInt64Array.of(1n, 2n, 3n, -(2n ** 40n), 5n, 6n) },
        c: { dtype: 'bool', dims: [2, 2], data: [true, false, false, true] },
        s: { dtype: 'BYTES', dims: [2], data: ['ünïcode', ''] },
      },
      { outputs: ['k2', 's2', 'nc', 'a2'] },
    );
    expect(Object.keys(out)).toEqual(['k2', 's2', 'nc', 'a2']);
    expect(Array.from(out.a2!.data as Float32Array)).toEqual([1, 4, 9, 16, 0.25, 36, 49, 64]);
    expect(out.k2!.data).toEqual(BigInt64Array.of(2n, 4n, 6n, -(2n ** 41n), 10n, 12n));
    expect(Array.from(out.nc!.data as Uint8Array)).toEqual([0, 1, 1, 0]);
    expect(out.s2).toEqual({ dtype: 'string', datatype: 'BYTES', dims: [2], data: ['ünïcode', ''] });
  });

  it('takes onnxruntime-web tensors in and gives tensors onnxruntime-web accepts back', async () => {
    const input = new ortWeb.Tensor('float32', x, CLS_SHAPE);
    const c = createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' });
    const out = await c.infer({ x: { dtype: input.type, dims: input.dims, data: input.data as Float32Array } });
    const o = out[CLS_OUT]!;
    const back = new ortWeb.Tensor(o.dtype as 'float32', o.data as Float32Array, o.dims);
    expect(bytesOf(back.data as Float32Array)).toEqual(expected);
  });

  it("reports the server's Server-Timing (read, queue, run, total) with every answer, over node:http and fetch", async () => {
    for (const fetchImpl of [undefined, fetch]) {
      const c = createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls', ...(fetchImpl ? { fetch: fetchImpl } : {}) });
      const { outputs, serverTiming } = await c.inferWithTimings({ x: { dtype: 'float32', dims: CLS_SHAPE, data: x } });
      expect(bytesOf(outputs[CLS_OUT]!.data as Float32Array)).toEqual(expected);
      expect(Object.keys(serverTiming)).toEqual(['read', 'queue', 'run', 'total']);
      expect(serverTiming.run).toBeGreaterThan(0);
      expect(serverTiming.read! + serverTiming.queue! + serverTiming.run!).toBeLessThanOrEqual(serverTiming.total! + 1e-3);
    }
  });

  it('parses Server-Timing headers', () => {
    expect(parseServerTiming(null)).toEqual({});
    expect(parseServerTiming('run;dur=1.25, queue;dur=0, cache;desc="hit", db;dur="2e1";desc=x')).toEqual({ run: 1.25, queue: 0, db: 20 });
    expect(parseServerTiming('bad;dur=abc,;dur=3')).toEqual({});
  });

  it('metadata() and ready()', async () => {
    const c = createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls', version: '1' });
    expect(await c.metadata()).toMatchObject({ name: 'cls', inputs: [{ name: 'x', shape: [-1, 3, -1, -1] }] });
    expect(await c.ready()).toBe(true);
    expect(await createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'nope' }).ready()).toBe(false);
  });

  const failures: [string, () => Promise<unknown>, number, string][] = [
    ['no token', () => createKServeClient({ endpoint: srv.url, model: 'cls' }).infer({ x: { dtype: 'float32', dims: CLS_SHAPE, data: x } }), 401, 'E_UNAUTHORIZED'],
    ['wrong token', () => createKServeClient({ endpoint: srv.url, token: 'nope', model: 'cls' }).ready(), 401, 'E_UNAUTHORIZED'],
    ['wrong shape', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float32', dims: [1, 4, 8, 8], data: new Float32Array(256) } }), 400, 'E_REQUEST_SHAPE'],
    ['wrong dtype', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float64', dims: [1, 3, 8, 8], data: new Float64Array(192) } }), 400, 'E_REQUEST_DTYPE'],
    ['unknown model', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'nope' }).infer({ x: { dtype: 'float32', dims: [1], data: [1] } }), 404, 'E_NOT_FOUND'],
    ['too large', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float32', dims: [1, 3, 48, 2000], data: new Float32Array(3 * 48 * 2000) } }), 413, 'E_BODY_TOO_LARGE'],
    ['data length (caught before sending)', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float32', dims: [1, 3, 2, 2], data: new Float32Array(5) } }), 0, 'E_REQUEST_DATA'],
    ['unknown dtype (caught before sending)', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float8', dims: [1], data: [1] } }), 0, 'E_REQUEST_DTYPE'],
    ['no server', () => createKServeClient({ endpoint: 'http://127.0.0.1:1', token: TOKEN, model: 'cls' }).infer({ x: { dtype: 'float32', dims: [1], data: [1] } }), 0, 'E_NETWORK'],
    ['not a KServe answer', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls', fetch: async () => new Response('<html>bad gateway</html>', { status: 502 }) }).metadata(), 502, 'E_HTTP'],
    ['malformed success answer', () => createKServeClient({ endpoint: srv.url, token: TOKEN, model: 'cls', fetch: async () => new Response('{"model_name":"cls","outputs":[{"name":"y"}]}', { status: 200 }) }).infer({ x: { dtype: 'float32', dims: [1], data: [1] } }), 200, 'E_RESPONSE_MALFORMED'],
  ];
  it('a fetch that gets no answer (server down, or a browser blocking it by CORS) says so and names --cors-origin', async () => {
    const port = await closedPort();
    const e = await createKServeClient({ endpoint: `http://127.0.0.1:${port}`, token: TOKEN, model: 'cls', fetch: globalThis.fetch })
      .infer({ x: { dtype: 'float32', dims: [1], data: [1] } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(KServeClientError);
    expect({ status: (e as KServeClientError).status, code: (e as KServeClientError).code }).toEqual({ status: 0, code: 'E_NETWORK' });
    expect((e as Error).message).toMatch(/down/);
    expect((e as Error).message).toMatch(/CORS/);
    expect((e as Error).message).toContain('--cors-origin');
    // Node's own transport has no CORS: a refused connection is reported as it is.
    const direct = await createKServeClient({ endpoint: `http://127.0.0.1:${port}`, token: TOKEN, model: 'cls' })
      .metadata()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((direct as KServeClientError).code).toBe('E_NETWORK');
    expect((direct as Error).message).not.toMatch(/CORS/);
  });

  for (const [name, f, status, code] of failures) {
    it(`fails clearly: ${name} → ${status} ${code}`, async () => {
      const e = await f().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(KServeClientError);
      expect({ status: (e as KServeClientError).status, code: (e as KServeClientError).code }).toEqual({ status, code });
      if (status >= 400 && code !== 'E_HTTP') expect((e as KServeClientError).body?.code).toBe(code);
    });
  }
});
