// A seeded fuzz of the coordinator's endpoints: over a thousand malformed updates,
// registrations and calibration uploads (wrong names, shapes, dtypes, NaN, huge norms,
// truncated binary, bad JSON, stale rounds, unknown clients, oversized bodies, bad tokens)
// each get a coded 4xx, the server keeps serving, and the round it serves is unchanged.
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xorshift32 } from '../../../src/ir/random.js';
import { Coordinator } from '../../../src/runtime/federated/coordinator.js';
import type { ClientUpdate, Weights } from '../../../src/runtime/federated/types.js';
import { encodeCalibration, encodeUpdate, weightsToWire } from '../../../src/runtime/federated/wire.js';
import { type EncodedBody, encodeInferRequest, type WireTensor } from '../../../src/runtime/kserve.js';
import { createInferenceServer, type InferenceServer } from '../../../src/runtime/server.js';
import { smallResNet } from '../../../src/runtime/train/models.js';

const token = 'fuzz-token';
const maxBodyBytes = 256 * 1024;
let coordinator: Coordinator;
let server: InferenceServer;
let url: string;
/** The server's rate-limited warnings (malformed HTTP from the disconnecting clients). */
const warnings: string[] = [];

beforeAll(async () => {
  coordinator = Coordinator.create(smallResNet({ widths: [4, 8], classes: 3, size: 8, seed: 3 }), { batchSize: 8 }, {
    rounds: 2,
    minClients: 2,
    deadlineMs: 3_600_000,
    local: { epochs: 1, lr: 0.05, seed: 7 },
    algorithm: 'fedavg',
    seed: 1,
    maxUpdateNorm: 50,
  });
  coordinator.register('a');
  coordinator.register('b');
  server = await createInferenceServer({ models: [], token, federated: coordinator, maxBodyBytes, maxJsonBytes: 64 * 1024, warn: (line) => void warnings.push(line) });
  url = (await server.listen(0)).url;
});
afterAll(() => server.close());

interface Req {
  kind: string;
  method: string;
  route: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

const auth = { Authorization: `Bearer ${token}` };
const concat = (b: EncodedBody): Uint8Array => Buffer.concat(b.chunks);
const binary = (b: EncodedBody, route = 'update', headers: Record<string, string> = {}): Req => ({
  kind: '',
  method: 'POST',
  route,
  headers: { ...auth, 'Content-Type': b.contentType, ...(b.jsonLength !== undefined ? { 'Inference-Header-Content-Length': String(b.jsonLength) } : {}), ...headers },
  body: concat(b),
});

async function send(r: Req): Promise<{ status: number; code: string | undefined; bytes: Buffer }> {
  const res = await fetch(`${url}/v2/federated/${r.route}`, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  let code: string | undefined;
  if (!res.ok) code = (JSON.parse(bytes.toString('utf8')) as { code?: string }).code;
  return { status: res.status, code, bytes };
}

const roundBytes = async (): Promise<Buffer> => {
  const r = await send({ kind: 'round', method: 'GET', route: 'round', headers: auth });
  expect(r.status).toBe(200);
  return r.bytes;
};

/** One malformed request, drawn by `rand` from a table of kinds. */
function malformed(rand: () => number, global: Weights): Req {
  const task = coordinator.task;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const update = (over: Partial<ClientUpdate> = {}): ClientUpdate => ({ client: pick(['a', 'b']), round: 1, samples: 16, loss: 0.5, weights: global, ...over });
  const tensors = (): WireTensor[] => weightsToWire(task, global).map((t) => ({ ...t, data: (t.data as Float32Array).slice() }));
  const params = (over: Record<string, string | number | boolean> = {}) => ({ client: pick(['a', 'b']), round: 1, samples: 16, loss: 0.5, ...over });
  const withTensors = (ts: WireTensor[], p = params()): Req => binary(encodeInferRequest(ts, { binaryOutputs: false, parameters: p }));
  const k = Math.floor(rand() * tensors().length);
  const kinds: [string, () => Req][] = [
    ['wrong name', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, name: `${t.name}.x` } : t)))],
    ['missing tensor', () => withTensors(tensors().filter((_, i) => i !== k))],
    ['wrong dims, same count', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, shape: [1, ...t.shape] } : t)))],
    ['wrong count', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, shape: [...t.shape, 2], data: new Float32Array(2 * t.data.length) } : t)))],
    ['wrong dtype', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, datatype: 'FP64', data: Float64Array.from(t.data as Float32Array) } : t)))],
    ['fp16', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, datatype: 'FP16', data: new Uint16Array(t.data.length) } : t)))],
    ['NaN', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, data: (t.data as Float32Array).map((v, j) => (j === 0 ? NaN : v)) } : t)))],
    ['Infinity', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, data: (t.data as Float32Array).map((v, j) => (j === t.data.length - 1 ? -Infinity : v)) } : t)))],
    ['huge norm', () => withTensors(tensors().map((t, i) => (i === k ? { ...t, data: (t.data as Float32Array).map((v) => v + 1e3) } : t)))],
    ['samples 0', () => withTensors(tensors(), params({ samples: pick([0, -3, 1.5]) }))],
    ['loss not a number', () => withTensors(tensors(), params({ loss: pick(['x', true]) }))],
    ['client not a string', () => withTensors(tensors(), params({ client: 7 }))],
    ['unknown client', () => binary(encodeUpdate(task, update({ client: pick(['zz', 'c', 'a ']) })))],
    ['stale or future round', () => binary(encodeUpdate(task, update({ round: pick([0, 2, 3, -1, 1e9]) })))],
    ['no parameters', () => binary(encodeInferRequest(tensors(), { binaryOutputs: false }))],
    [
      'truncated binary',
      () => {
        const r = binary(encodeUpdate(task, update({ client: 'zz' })));
        const b = r.body as Uint8Array;
        return { ...r, body: b.subarray(0, Math.floor(rand() * b.length)) };
      },
    ],
    [
      'wrong header length',
      () => {
        const r = binary(encodeUpdate(task, update()));
        return { ...r, headers: { ...r.headers, 'Inference-Header-Content-Length': pick(['0', '-1', 'abc', '99999999', String(Math.floor(rand() * 300))]) } };
      },
    ],
    ['random bytes', () => ({ kind: '', method: 'POST', route: pick(['update', 'calibration']), headers: { ...auth }, body: Uint8Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)) })],
    ['wrong JSON', () => ({ kind: '', method: 'POST', route: pick(['update', 'calibration']), headers: { ...auth, 'Content-Type': 'application/json' }, body: pick(['{}', '[]', 'null', '{"inputs":[]}', '{"inputs":[{"name":"x"}]}', '{"inputs":"a"', '"str"']) })],
    ['JSON tensors', () => ({ ...binary(encodeInferRequest(tensors().slice(0, 1), { binary: false, binaryOutputs: false, parameters: params() })) })],
    ['oversized', () => ({ kind: '', method: 'POST', route: 'update', headers: { ...auth, 'Inference-Header-Content-Length': '10' }, body: new Uint8Array(maxBodyBytes + 1 + Math.floor(rand() * 1000)) })],
    ['corrupt gzip', () => ({ ...binary(encodeUpdate(task, update())), headers: { ...binary(encodeUpdate(task, update())).headers, 'Content-Encoding': 'gzip' } })],
    ['gzip bomb', () => ({ kind: '', method: 'POST', route: 'update', headers: { ...auth, 'Content-Encoding': 'gzip', 'Content-Type': 'application/json' }, body: zlib.gzipSync(Buffer.alloc(4 * maxBodyBytes, 0x20)) })],
    ['unknown encoding', () => ({ ...binary(encodeUpdate(task, update())), headers: { ...binary(encodeUpdate(task, update())).headers, 'Content-Encoding': 'br' } })],
    ['missing token', () => ({ ...binary(encodeUpdate(task, update())), headers: { 'Content-Type': 'application/octet-stream' } })],
    ['wrong token', () => ({ kind: '', method: pick(['GET', 'POST']), route: pick(['round', 'task', 'status', 'register', 'update']), headers: { Authorization: `Bearer ${pick(['x', `${token}x`, ''])}` } })],
    ['wrong method', () => ({ kind: '', method: 'GET', route: pick(['update', 'register', 'calibration']), headers: auth })],
    ['unknown route', () => ({ kind: '', method: pick(['GET', 'POST']), route: pick(['rounds', 'update/x', 'tasks', '%zz']), headers: auth })],
    ['register: not JSON', () => ({ kind: '', method: 'POST', route: 'register', headers: auth, body: pick(['{', 'client=a', '\u0000\u0001', '{"client":']) })],
    ['register: not an object', () => ({ kind: '', method: 'POST', route: 'register', headers: auth, body: pick(['[]', '"a"', '3', 'null']) })],
    ['register: bad id', () => ({ kind: '', method: 'POST', route: 'register', headers: auth, body: JSON.stringify({ client: pick([7, '', 'has space', 'x'.repeat(65), 'é', null, ['a']]) }) })],
    ['register: too large', () => ({ kind: '', method: 'POST', route: 'register', headers: auth, body: JSON.stringify({ client: 'a', pad: 'x'.repeat(5000 + Math.floor(rand() * 5000)) }) })],
    ['register: binary', () => ({ ...binary(encodeUpdate(task, update()), 'register') })],
    ['calibration: unknown client or round', () => binary(encodeCalibration(pick(['zz', 'a']), pick([0, 3, -1]), new Float64Array([1, 2, 3])), 'calibration')],
    ['calibration: NaN', () => binary(encodeCalibration('a', 1, new Float64Array([1, NaN])), 'calibration')],
    ['calibration: wrong tensor', () => withTensorsTo('calibration', tensors().slice(0, 1))],
  ];
  const withTensorsTo = (route: string, ts: WireTensor[]): Req => binary(encodeInferRequest(ts, { binaryOutputs: false, parameters: { client: 'a', round: 1 } }), route);
  const [kind, make] = pick(kinds);
  return { ...make(), kind };
}

describe('federated coordinator fuzz', () => {
  it('answers ≥ 1,000 malformed requests with coded 4xx, keeps serving, and serves the same round', async () => {
    const before = await roundBytes();
    const global = coordinator.globalWeights();
    const rand = xorshift32(2024);
    const byKind = new Map<string, number>();
    const unexpected: string[] = [];
    for (let i = 0; i < 1100; i++) {
      const req = malformed(rand, global);
      const { status, code } = await send(req);
      byKind.set(req.kind, (byKind.get(req.kind) ?? 0) + 1);
      if (!(status >= 400 && status < 500) || typeof code !== 'string' || !/^E_[A-Z_]+$/.test(code)) unexpected.push(`${req.kind}: ${status} ${code}`);
    }
    expect(unexpected).toEqual([]);
    expect(byKind.size).toBeGreaterThan(30);
    // clients that disconnect mid-upload change nothing either
    for (let i = 0; i < 5; i++) {
      const body = concat(encodeUpdate(coordinator.task, { client: 'a', round: 1, samples: 16, loss: 0.5, weights: global }));
      await new Promise<void>((resolve) => {
        const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => {
          s.write(`POST /v2/federated/update HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\n\r\n`);
          s.write(body.subarray(0, body.length >> 1), () => s.destroy());
        });
        s.on('close', () => resolve());
      });
    }
    expect((await roundBytes()).equals(before)).toBe(true);
    expect(coordinator.status()).toMatchObject({ completed: 0, submitted: [], registered: 2 });
    expect(server.metricsText()).toMatch(/splitc_federated_updates_total\{result="rejected"\} \d+/);

    // and it still accepts the real thing
    for (const client of ['a', 'b']) {
      const { status, bytes } = await send(binary(encodeUpdate(coordinator.task, { client, round: 1, samples: 16, loss: 0.5, weights: global })));
      expect([status, JSON.parse(bytes.toString())]).toEqual([200, { accepted: true, round: 1, closed: client === 'b' }]);
    }
    expect(coordinator.status()).toMatchObject({ completed: 1 });
    expect(server.metricsText()).toContain('splitc_federated_updates_total{result="accepted"} 2');
  });
});
