// protobuf cannot hold 2 GB: the writer must move initializers to external data by
// itself, and say clearly when even that is not enough.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import { tensorType, Value } from '../../src/ir/graph.js';
import { loadModel, saveModel } from '../../src/ir/serde/io.js';
import { PROTOBUF_LIMIT, serializeModel } from '../../src/ir/serde/write.js';
import { MemoryStorage, Tensor } from '../../src/ir/tensor.js';
import { tmpDir } from '../helpers/fixtures.js';
import { runOrt, sameOutputs, seededFloatInputs } from '../helpers/onnx-oracle.js';
import { codeOf } from '../helpers/codes.js';

function smallModel(asConstants = false) {
  const b = new GraphBuilder();
  let y = b.input('x', DataType.FLOAT, [1, 32]);
  for (let i = 0; i < 3; i++) {
    const w = asConstants
      ? b.constant(`w${i}`, DataType.FLOAT, [32, 32], Float32Array.from({ length: 1024 }, (_, j) => Math.sin(i + j)))
      : b.weight(`w${i}`, [32, 32], i + 1); // 4 KiB each
    y = b.op('MatMul', [y, w]);
  }
  b.output(y);
  return b.model();
}

describe('models over the protobuf limit', () => {
  it('are written with external data automatically, and still run the same', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'm.onnx');
    const m = smallModel();
    // pretend the limit is 6 KiB: the model (12 KiB of weights) does not fit
    const r = saveModel(m, file, { protobufLimitBytes: 6 * 1024 });
    expect(r.externalDataFile).toBe(file + '.data');
    expect(r.externalBytes).toBe(3 * 4096);
    expect(r.modelBytes).toBeLessThan(6 * 1024);
    const back = loadModel(file);
    expect([...back.graph.initializers.values()].map((v) => v.constValue!.storage.kind)).toEqual(['external', 'external', 'external']);
    const inline = path.join(dir, 'inline.onnx');
    saveModel(smallModel(), inline);
    const feeds = () => seededFloatInputs({ x: [1, 32] }, 5);
    expect(sameOutputs(await runOrt(inline, feeds()), await runOrt(file, feeds()))).toEqual({ same: true, why: '' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('at real size: 2.4 GB of weights serialize to a small protobuf plus external data', () => {
    // three 800 MB initializers viewing one zero-filled buffer: nothing is copied
    const shared = new Uint8Array(800 * 2 ** 20);
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 1024]);
    let y = x;
    for (let i = 0; i < 3; i++) {
      const dims = [1024, shared.byteLength / 4 / 1024];
      const t = new Tensor(`big${i}`, DataType.FLOAT, dims, new MemoryStorage(shared));
      const w = b.graph.addInitializer(new Value(`big${i}`, tensorType(DataType.FLOAT, dims)), t);
      y = b.op('Add', [y, b.op('ReduceSum', [w], { keepdims: 0 })]);
    }
    b.output(y);
    const s = serializeModel(b.model(), { externalDataLocation: 'big.onnx.data' });
    expect(s.external).not.toBeNull();
    expect(s.external!.entries).toHaveLength(3);
    expect(s.external!.length).toBe(3 * shared.byteLength);
    expect(s.length).toBeLessThan(PROTOBUF_LIMIT);
    expect(s.length).toBeLessThan(64 * 1024);
  });

  it('fail with E_TOO_LARGE when they cannot be split', () => {
    // in memory (no file to put external data in)
    expect(codeOf(() => serializeModel(smallModel(), { protobufLimitBytes: 6 * 1024 }))).toBe('E_TOO_LARGE');
    // weights in Constant nodes are not moved out: the hint says to hoist them
    const dir = tmpDir();
    const file = path.join(dir, 'c.onnx');
    let err: SplitcError | undefined;
    try {
      saveModel(smallModel(true), file, { protobufLimitBytes: 6 * 1024 });
    } catch (e) {
      err = e as SplitcError;
    }
    expect(err?.code).toBe('E_TOO_LARGE');
    expect(err?.hint).toMatch(/hoist/);
    expect(fs.readdirSync(dir)).toEqual([]); // nothing half-written
  });
});
