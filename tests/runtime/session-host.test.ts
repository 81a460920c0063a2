// Session hosts: a session on a worker thread answers exactly like one on the calling thread
// (every dtype the tiny model carries, the real classifier bit for bit), reports onnxruntime's
// refusals as SessionRunError and keeps working, fails cleanly on a bad model and after
// release; and a server whose sessions run on workers answers health probes during a run.
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createSessionHost, type HostTensor, SessionHostError, SessionRunError, type SessionThread } from '../../src/runtime/session-host.js';
import { fixturesDir } from '../helpers/fixtures.js';
import { auth, bytesOf, CLS_OUT, CLS_PATH, CLS_SHAPE, directRun, rawRequest, seededFloats, SESSION_OPTIONS, startServer, tinyModelBytes } from './helpers.js';
import { concatChunks, encodeInferRequest } from '../../src/runtime/kserve.js';

const THREADS: SessionThread[] = ['worker', 'main'];

describe.each(THREADS)('session host on the %s thread', (thread) => {
  it('runs the classifier bit-identically to a direct session', async () => {
    const x = seededFloats(CLS_SHAPE.reduce((a, b) => a * b, 1), 11);
    const expected = await directRun(CLS_PATH, { x: new ort.Tensor('float32', x, CLS_SHAPE) });
    const host = await createSessionHost({ path: CLS_PATH }, SESSION_OPTIONS, thread);
    try {
      expect(host.inputMetadata.map((m) => m.name)).toEqual(['x']);
      expect(host.outputMetadata.map((m) => m.name)).toEqual([CLS_OUT]);
      // Twice: the worker must not keep (or detach) anything of the caller's first request.
      for (let k = 0; k < 2; k++) {
        const { outputs, seconds } = await host.run([{ name: 'x', type: 'float32', dims: CLS_SHAPE, data: x }]);
        expect(seconds).toBeGreaterThan(0);
        expect(outputs).toHaveLength(1);
        expect(outputs[0]!.name).toBe(CLS_OUT);
        expect(outputs[0]!.dims).toEqual([1, 2]);
        expect(bytesOf(outputs[0]!.data as Float32Array).equals(bytesOf(expected[CLS_OUT]!.data as Float32Array))).toBe(true);
      }
      expect(x.length).toBe(CLS_SHAPE.reduce((a, b) => a * b, 1)); // the caller's array is intact
    } finally {
      await host.release();
    }
  });

  it('carries float, int64, bool and string tensors, from model bytes, with inputs that are views into a larger buffer', async () => {
    const host = await createSessionHost({ bytes: tinyModelBytes() }, SESSION_OPTIONS, thread);
    try {
      const body = new Float32Array(16).map((_, i) => i - 3);
      const a = body.subarray(4, 12); // a view: only these 8 elements may cross
      const feeds: HostTensor[] = [
        { name: 'a', type: 'float32', dims: [2, 4], data: a },
        { name: 'k', type: 'int64', dims: [2, 3], data: BigInt64Array.from([1n, -2n, 3n, 2n ** 40n, 0n, -7n]) },
        { name: 'c', type: 'bool', dims: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
        { name: 's', type: 'string', dims: [2], data: ['héllo', ''] },
      ];
      const { outputs } = await host.run(feeds);
      const byName = Object.fromEntries(outputs.map((o) => [o.name, o]));
      expect(Array.from(byName.a2!.data as Float32Array)).toEqual(Array.from(a, (v) => v * v));
      expect(Array.from(byName.k2!.data as BigInt64Array)).toEqual([2n, -4n, 6n, 2n ** 41n, 0n, -14n]);
      expect(Array.from(byName.nc!.data as Uint8Array)).toEqual([0, 1, 1, 0]);
      expect(byName.s2!.data).toEqual(['héllo', '']);
      expect(body[4]).toBe(1); // the larger buffer is neither detached nor changed
    } finally {
      await host.release();
    }
  });

  it("reports onnxruntime's refusal as SessionRunError and keeps serving", async () => {
    const host = await createSessionHost({ path: CLS_PATH }, SESSION_OPTIONS, thread);
    try {
      const bad = host.run([{ name: 'x', type: 'float32', dims: [1, 3, 7], data: new Float32Array(21) }]);
      await expect(bad).rejects.toBeInstanceOf(SessionRunError);
      await expect(bad).rejects.toThrow(/dimension|rank|shape/i);
      const ok = await host.run([{ name: 'x', type: 'float32', dims: CLS_SHAPE, data: new Float32Array(CLS_SHAPE.reduce((p, q) => p * q, 1)) }]);
      expect(ok.outputs[0]!.dims).toEqual([1, 2]);
    } finally {
      await host.release();
    }
  });

  it('rejects a model onnxruntime cannot load, and runs after release', async () => {
    await expect(createSessionHost({ bytes: new Uint8Array([8, 7, 0, 1, 2]) }, SESSION_OPTIONS, thread)).rejects.toThrow();
    const host = await createSessionHost({ path: CLS_PATH }, SESSION_OPTIONS, thread);
    await host.release();
    if (thread === 'worker') {
      await expect(host.run([{ name: 'x', type: 'float32', dims: CLS_SHAPE, data: new Float32Array(1) }])).rejects.toBeInstanceOf(SessionHostError);
    }
  });
});

describe('server with sessions on worker threads', () => {
  it('answers a health probe while a long run is in progress', async () => {
    const rec = path.join(fixturesDir, 'ch_PP-OCRv4_rec_infer.onnx');
    const srv = await startServer({ models: [{ name: 'rec', path: rec }] });
    try {
      const shape = [8, 3, 48, 320];
      const e = encodeInferRequest([{ name: 'x', datatype: 'FP32', shape, data: seededFloats(shape.reduce((a, b) => a * b, 1), 5) }], { binary: true });
      const headers = auth({ 'Content-Type': e.contentType, 'Inference-Header-Content-Length': e.jsonLength! });
      const finished: string[] = [];
      const infer = rawRequest(srv.port, 'POST', '/v2/models/rec/infer', { headers, body: concatChunks(e.chunks) }).then((r) => {
        finished.push('infer');
        return r;
      });
      // Wait until the run has started (the request is held and nothing is waiting), then probe.
      while (srv.server.stats().heldRequests === 0 || srv.server.stats().waiting['rec@1'] !== 0) await new Promise((r) => setTimeout(r, 1));
      const live = await rawRequest(srv.port, 'GET', '/v2/health/live');
      finished.push('live');
      expect(live.status).toBe(200);
      const r = await infer;
      expect(r.status).toBe(200);
      expect(finished).toEqual(['live', 'infer']);
    } finally {
      await srv.server.close();
    }
  });
});
