// One way to create onnxruntime sessions: a path or bytes to the matching overload, the caller's
// options passed through, errors-only logging by default; the same call for -node and -web.
import * as path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { createOrtSession, type OrtModule, type OrtSessionOptions } from '../../src/search/ort-session.js';
import { tmpDir } from '../helpers/fixtures.js';
import { unusedInitializerModel } from '../helpers/ort-log.js';

function recordingModule(): { ort: OrtModule; calls: { model: string | Uint8Array; options: OrtSessionOptions | undefined }[] } {
  const calls: { model: string | Uint8Array; options: OrtSessionOptions | undefined }[] = [];
  const create = (model: string | Uint8Array, options?: OrtSessionOptions): Promise<never> => {
    calls.push({ model, options });
    return Promise.resolve(null as never);
  };
  return { ort: { InferenceSession: { create } } as unknown as OrtModule, calls }; // only `create` is used
}

describe('createOrtSession', () => {
  it("passes the caller's options through, with errors-only logging unless a level is set", async () => {
    const { ort, calls } = recordingModule();
    const bytes = new Uint8Array([1, 2, 3]);
    const options: OrtSessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 2, interOpNumThreads: 1 };
    await createOrtSession(ort, bytes, options);
    await createOrtSession(ort, 'model.onnx', { logSeverityLevel: 0 });
    await createOrtSession(ort, 'model.onnx');
    expect(calls).toEqual([
      { model: bytes, options: { graphOptimizationLevel: 'all', intraOpNumThreads: 2, interOpNumThreads: 1, logSeverityLevel: 3 } },
      { model: 'model.onnx', options: { logSeverityLevel: 0 } },
      { model: 'model.onnx', options: { logSeverityLevel: 3 } },
    ]);
    expect(options).toEqual({ graphOptimizationLevel: 'all', intraOpNumThreads: 2, interOpNumThreads: 1 }); // not mutated
  });

  it('opens a model from a path or bytes with onnxruntime-node, and from bytes with onnxruntime-web', async () => {
    const model = unusedInitializerModel();
    const file = path.join(tmpDir(), 'model.onnx');
    saveModel(model, file);
    const bytes = modelToBytes(model);
    for (const session of [await createOrtSession(ortNode, file), await createOrtSession(ortNode, bytes), await createOrtSession(ortWeb, bytes)]) {
      expect(session.inputNames.length).toBeGreaterThan(0);
      await session.release();
    }
  });
});
