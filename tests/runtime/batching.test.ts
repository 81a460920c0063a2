// Dynamic batching: concurrent requests share one session.run, each gets exactly the answer
// it would get alone; incompatible requests are never merged; models whose outputs are not
// batch-major fall back to one run per request.
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { concatChunks, decodeInferResponse, encodeInferRequest, parseHeaderLength, type WireTensor } from '../../src/runtime/kserve.js';
import { parsePrometheusText } from '../../src/runtime/metrics.js';
import type { InferenceServer } from '../../src/runtime/server.js';
import { auth, bytesOf, CLS_OUT, CLS_PATH, directRun, rawRequest, seededFloats, startServer, tinyJsonRequest, tinyModelBytes } from './helpers.js';

let server: InferenceServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function inferBinary(port: number, model: string, inputs: WireTensor[]): Promise<Record<string, WireTensor>> {
  const e = encodeInferRequest(inputs, { binary: true });
  const r = await rawRequest(port, 'POST', `/v2/models/${model}/infer`, {
    headers: auth({ 'Inference-Header-Content-Length': e.jsonLength! }),
    body: concatChunks(e.chunks),
    agent: false,
  });
  expect(r.status, r.body.toString().slice(0, 200)).toBe(200);
  const d = decodeInferResponse(new Uint8Array(r.body), parseHeaderLength(r.headers['inference-header-content-length'] as string, r.body.length));
  return Object.fromEntries(d.outputs.map((o) => [o.name, o]));
}

async function batchSizes(port: number, model: string): Promise<{ count: number; single: number; sum: number }> {
  const samples = parsePrometheusText((await rawRequest(port, 'GET', '/metrics', { headers: auth() })).body.toString());
  const get = (name: string, le?: string): number =>
    samples.find((s) => s.name === name && s.labels.model === model && (le === undefined || s.labels.le === le))?.value ?? 0;
  return { count: get('splitc_batch_size_count'), single: get('splitc_batch_size_bucket', '1'), sum: get('splitc_batch_size_sum') };
}

describe('dynamic batching', () => {
  it('batches concurrent classifier requests; every result equals its unbatched run bit for bit', async () => {
    const s = await startServer({ maxBatchSize: 8, maxQueueDelayMs: 100 });
    server = s.server;
    const shape = [1, 3, 48, 192];
    const inputs = Array.from({ length: 8 }, (_, i) => seededFloats(3 * 48 * 192, 100 + i));
    const expected = await Promise.all(inputs.map(async (x) => bytesOf((await directRun(CLS_PATH, { x: new ort.Tensor('float32', x, shape) }))[CLS_OUT]!.data as Float32Array)));
    const results = await Promise.all(inputs.map((x) => inferBinary(s.port, 'cls', [{ name: 'x', datatype: 'FP32', shape, data: x }])));
    results.forEach((r, i) => {
      expect(r[CLS_OUT]!.shape).toEqual([1, 2]);
      expect(bytesOf(r[CLS_OUT]!.data as Float32Array), `request ${i}`).toEqual(expected[i]);
    });
    const b = await batchSizes(s.port, 'cls');
    expect(b.sum).toBe(8); // every request ran exactly once
    expect(b.single).toBeLessThan(b.count); // at least one session.run took more than one request
  });

  it('never merges requests whose non-batch dims differ', async () => {
    const s = await startServer({ maxBatchSize: 8, maxQueueDelayMs: 50 });
    server = s.server;
    const widths = [192, 96, 192, 96];
    const inputs = widths.map((w, i) => ({ shape: [1, 3, 48, w], x: seededFloats(3 * 48 * w, 7 + i) }));
    const results = await Promise.all(inputs.map(({ shape, x }) => inferBinary(s.port, 'cls', [{ name: 'x', datatype: 'FP32', shape, data: x }])));
    for (let i = 0; i < inputs.length; i++) {
      const direct = await directRun(CLS_PATH, { x: new ort.Tensor('float32', inputs[i]!.x, inputs[i]!.shape) });
      expect(bytesOf(results[i]![CLS_OUT]!.data as Float32Array)).toEqual(bytesOf(direct[CLS_OUT]!.data as Float32Array));
    }
    const b = await batchSizes(s.port, 'cls');
    expect(b.sum).toBe(4);
    expect(b.count).toBeGreaterThanOrEqual(2); // at least one run per width
  });

  it('batches multi-row requests of every datatype (INT64, BOOL, BYTES) and splits them back', async () => {
    const tiny = tinyModelBytes();
    const s = await startServer({ models: [{ name: 'tiny', bytes: tiny }], maxBatchSize: 16, maxQueueDelayMs: 100 });
    server = s.server;
    const rowsList = [2, 3, 1, 4];
    const reqs = rowsList.map((rows, r) => {
      const j = tinyJsonRequest(rows) as { inputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[] };
      return j.inputs.map((i): WireTensor => {
        const data =
          i.datatype === 'FP32'
            ? Float32Array.from(i.data as number[], (v) => v + r)
            : i.datatype === 'INT64'
              ? BigInt64Array.from(i.data as number[], (v) => BigInt(v + r))
              : i.datatype === 'BOOL'
                ? Uint8Array.from(i.data as boolean[], (v) => Number(v) ^ (r & 1))
                : (i.data as string[]).map((t) => new TextEncoder().encode(`${t}/${r}`));
        return { name: i.name, datatype: i.datatype as WireTensor['datatype'], shape: i.shape, data };
      });
    });
    const results = await Promise.all(reqs.map((inputs) => inferBinary(s.port, 'tiny', inputs)));
    for (let k = 0; k < reqs.length; k++) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of reqs[k]!) {
        const type = t.datatype === 'FP32' ? 'float32' : t.datatype === 'INT64' ? 'int64' : t.datatype === 'BOOL' ? 'bool' : 'string';
        feeds[t.name] = new ort.Tensor(type as 'float32', (type === 'string' ? (t.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)) : t.data) as Float32Array, t.shape);
      }
      const direct = await directRun(tiny, feeds);
      const got = results[k]!;
      expect(got.a2!.shape).toEqual([rowsList[k], 4]);
      expect(bytesOf(got.a2!.data as Float32Array)).toEqual(bytesOf(direct.a2!.data as Float32Array));
      expect(bytesOf(got.k2!.data as BigInt64Array)).toEqual(bytesOf(direct.k2!.data as BigInt64Array));
      expect(bytesOf(got.nc!.data as Uint8Array)).toEqual(bytesOf(direct.nc!.data as Uint8Array));
      expect((got.s2!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b))).toEqual(direct.s2!.data);
    }
    const b = await batchSizes(s.port, 'tiny');
    expect(b.sum).toBe(4);
    expect(b.single).toBeLessThan(b.count);
  });

  it('falls back to one run per request when outputs are not batch-major', async () => {
    // Reshape to [-1] flattens the batch: output dim 0 is 4·N, so a merged run cannot be split.
    const g = new GraphBuilder('flat');
    const a = g.input('a', DataType.FLOAT, ['N', 4]);
    const shape = g.init('shape', DataType.INT64, [1], [-1]);
    g.output(g.op('Reshape', [a, shape], {}, { outputNames: ['flat'] }), { dtype: DataType.FLOAT, shape: ['M'] });
    const s = await startServer({ models: [{ name: 'flat', bytes: modelToBytes(g.model()) }], maxBatchSize: 8, maxQueueDelayMs: 100 });
    server = s.server;
    const inputs = [1, 2, 3].map((r) => Float32Array.from({ length: 4 * r }, (_, i) => i + 10 * r));
    const results = await Promise.all(inputs.map((x) => inferBinary(s.port, 'flat', [{ name: 'a', datatype: 'FP32', shape: [x.length / 4, 4], data: x }])));
    results.forEach((r, i) => expect(Array.from(r.flat!.data as Float32Array)).toEqual(Array.from(inputs[i]!)));
    // Later requests are not batched at all.
    await Promise.all(inputs.map((x) => inferBinary(s.port, 'flat', [{ name: 'a', datatype: 'FP32', shape: [x.length / 4, 4], data: x }])));
    const b = await batchSizes(s.port, 'flat');
    expect(b.single).toBe(b.count);
    expect(b.sum).toBe(6);
  });
});
