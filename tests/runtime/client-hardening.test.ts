// The client against small node:http servers that misbehave: never answer, stall the body,
// turn requests away with 503 + Retry-After, reset the connection, answer with tensors that
// do not match the model, or answer far more bytes than the model's outputs can take.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKServeClient, type DeclaredTensor, KServeClientError } from '../../src/runtime/client.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** A server that reads each request body whole, then hands it to `handler` (n counts from 0). */
async function serve(handler: Handler): Promise<{ url: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(Date.now());
      handler(req, res, arrivals.length - 1);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

const X = { x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } };
const DECLARED_IN: DeclaredTensor[] = [{ name: 'x', dtype: 'float32', shape: ['N', 4] }];
const DECLARED_OUT: DeclaredTensor[] = [{ name: 'y', dtype: 'float32', shape: ['N', 2] }];

function answer(outputs: unknown[]): string {
  return JSON.stringify({ model_name: 'm', outputs });
}
const GOOD = answer([{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [0.5, 1.5] }]);

function json(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body);
}

async function failure(p: Promise<unknown>): Promise<KServeClientError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KServeClientError);
  return e as KServeClientError;
}

/** Let I/O callbacks run (setImmediate is left real under the fake timers below). */
async function ioTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('client: default timeout', () => {
  const stalls: [string, Handler][] = [
    ['never answers', () => undefined],
    [
      'sends headers and stalls the body',
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(GOOD.length) });
        res.write(GOOD.slice(0, 10));
      },
    ],
  ];
  for (const [name, handler] of stalls) {
    it(`a server that ${name} fails with E_TIMEOUT after the documented 30 s default`, async () => {
      let reached!: () => void;
      const atServer = new Promise<void>((resolve) => (reached = resolve));
      const { url } = await serve((req, res, n) => {
        handler(req, res, n);
        reached();
      });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      let settled: unknown = 'pending';
      const client = createKServeClient({ endpoint: url, model: 'm' });
      client.infer(X).then(
        (v) => (settled = v),
        (e: unknown) => (settled = e),
      );
      await atServer;
      await ioTurns(20);
      vi.advanceTimersByTime(29_000);
      await ioTurns(20);
      expect(settled).toBe('pending');
      vi.advanceTimersByTime(1_000);
      for (let i = 0; i < 200 && settled === 'pending'; i++) await ioTurns(1);
      expect(settled).toBeInstanceOf(KServeClientError);
      expect((settled as KServeClientError).code).toBe('E_TIMEOUT');
    });
  }

  it('timeoutMs: 0 waits as long as the server takes', async () => {
    const { url } = await serve((_req, res) => setTimeout(() => json(res, 200, GOOD), 50));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const p = createKServeClient({ endpoint: url, model: 'm', timeoutMs: 0 }).infer(X);
    await ioTurns(20);
    vi.advanceTimersByTime(60_000);
    vi.useRealTimers();
    expect((await p).y?.dims).toEqual([1, 2]);
  });
});

describe('client: retries', () => {
  const overloaded = (res: http.ServerResponse): void =>
    json(res, 503, JSON.stringify({ error: 'the queue is full', code: 'E_OVERLOADED' }), { 'Retry-After': '1' });

  it('503 with Retry-After: 1 twice, then 200: succeeds, each retry at least the asked second later', async () => {
    const { url, arrivals } = await serve((_req, res, n) => (n < 2 ? overloaded(res) : json(res, 200, GOOD)));
    const out = await createKServeClient({ endpoint: url, model: 'm' }).infer(X);
    expect(out.y?.dims).toEqual([1, 2]);
    expect(arrivals).toHaveLength(3);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(990);
    expect(arrivals[2]! - arrivals[1]!).toBeGreaterThanOrEqual(990);
    // With retries disabled the same 503 is thrown at once.
    const off = await serve((_req, res) => overloaded(res));
    const e = await failure(createKServeClient({ endpoint: off.url, model: 'm', retries: 0 }).infer(X));
    expect({ status: e.status, code: e.code }).toEqual({ status: 503, code: 'E_OVERLOADED' });
    expect(off.arrivals).toHaveLength(1);
  });

  it('retries a 503 but never a 4xx, nor when Retry-After is longer than maxMs', async () => {
    const { url, arrivals } = await serve((_req, res, n) =>
      n === 0
        ? json(res, 503, '{"error":"busy","code":"E_OVERLOADED"}', { 'Retry-After': '0' })
        : json(res, 400, '{"error":"bad shape","code":"E_REQUEST_SHAPE"}'),
    );
    const e = await failure(createKServeClient({ endpoint: url, model: 'm', retries: { max: 5, baseMs: 1 } }).infer(X));
    expect({ status: e.status, code: e.code }).toEqual({ status: 400, code: 'E_REQUEST_SHAPE' });
    expect(arrivals).toHaveLength(2);
    const later = await serve((_req, res) => json(res, 503, '{"error":"x","code":"E_OVERLOADED"}', { 'Retry-After': '3600' }));
    expect((await failure(createKServeClient({ endpoint: later.url, model: 'm' }).infer(X))).status).toBe(503);
    expect(later.arrivals).toHaveLength(1);
  });

  it('a connection reset before any answer is retried; with retries: 0 it is E_NETWORK', async () => {
    const handler: Handler = (req, res, n) => (n === 0 ? req.socket.destroy() : json(res, 200, GOOD));
    const first = await serve(handler);
    expect((await createKServeClient({ endpoint: first.url, model: 'm', retries: { baseMs: 1 } }).infer(X)).y?.dims).toEqual([1, 2]);
    expect(first.arrivals).toHaveLength(2);
    const second = await serve(handler);
    const e = await failure(createKServeClient({ endpoint: second.url, model: 'm', retries: 0 }).infer(X));
    expect(e.code).toBe('E_NETWORK');
    expect(second.arrivals).toHaveLength(1);
  });
});

describe('client: answers checked against the declared outputs', () => {
  const wrong: [string, string, RegExp][] = [
    ['INT64 data for an FP32 output', answer([{ name: 'y', datatype: 'INT64', shape: [1, 2], data: [1, 2] }]), /"y" datatype/],
    ['shape [1,3] for [N,2]', answer([{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }]), /"y" shape/],
    ['batch 2 for a request of batch 1', answer([{ name: 'y', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }]), /"y" shape.*N=1/],
    ['a rank-1 answer for a rank-2 output', answer([{ name: 'y', datatype: 'FP32', shape: [2], data: [1, 2] }]), /"y" shape/],
    ['a missing output', answer([{ name: 'z', datatype: 'FP32', shape: [1, 2], data: [1, 2] }]), /"y" is missing/],
  ];
  for (const [name, body, field] of wrong) {
    it(`${name} → E_RESPONSE_MALFORMED naming the field`, async () => {
      const { url } = await serve((_req, res) => json(res, 200, body));
      const e = await failure(createKServeClient({ endpoint: url, model: 'm', declaredInputs: DECLARED_IN, declaredOutputs: DECLARED_OUT }).infer(X));
      expect(e.code).toBe('E_RESPONSE_MALFORMED');
      expect(e.message).toMatch(field);
    });
  }

  it('a matching answer passes, and outputs not asked for are not required', async () => {
    const { url } = await serve((_req, res) => json(res, 200, GOOD));
    const declaredOutputs = [...DECLARED_OUT, { name: 'z', dtype: 'FP32', shape: [null] }];
    const client = createKServeClient({ endpoint: url, model: 'm', declaredInputs: DECLARED_IN, declaredOutputs });
    expect((await client.infer(X, { outputs: ['y'] })).y?.data).toEqual(new Float32Array([0.5, 1.5]));
    expect((await failure(client.infer(X))).message).toMatch(/"z" is missing/);
  });
});

describe('client: bounded answers', () => {
  /** Headers declaring 400 MiB, then 64 KiB chunks for as long as the client reads. */
  function flood(declareLength: boolean): { handler: Handler; written: () => number; closed: Promise<void> } {
    let written = 0;
    let close!: () => void;
    const closed = new Promise<void>((resolve) => (close = resolve));
    const total = 400 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const handler: Handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', ...(declareLength ? { 'Content-Length': String(total) } : {}) });
      res.on('close', close);
      const pump = (): void => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (written >= total) res.end();
      };
      pump();
    };
    return { handler, written: () => written, closed };
  }

  for (const transport of ['node:http', 'fetch'] as const) {
    for (const declareLength of [true, false]) {
      it(`a 400 MiB answer ${declareLength ? '(Content-Length)' : '(chunked)'} over ${transport} is refused without reading it`, async () => {
        const f = flood(declareLength);
        const { url } = await serve(f.handler);
        const e = await failure(
          createKServeClient({
            endpoint: url,
            model: 'm',
            declaredInputs: DECLARED_IN,
            declaredOutputs: DECLARED_OUT,
            ...(transport === 'fetch' ? { fetch: globalThis.fetch } : {}),
          }).infer(X),
        );
        expect(e.code).toBe('E_RESPONSE_MALFORMED');
        expect(e.message).toMatch(/maxResponseBytes/);
        await f.closed;
        expect(f.written()).toBeLessThan(64 * 1024 * 1024);
      });
    }
  }

  it('maxResponseBytes bounds answers when the outputs are not declared', async () => {
    const f = flood(false);
    const { url } = await serve(f.handler);
    const e = await failure(createKServeClient({ endpoint: url, model: 'm', maxResponseBytes: 1 << 20 }).infer(X));
    expect(e.code).toBe('E_RESPONSE_MALFORMED');
    await f.closed;
    expect(f.written()).toBeLessThan(64 * 1024 * 1024);
  });
});
