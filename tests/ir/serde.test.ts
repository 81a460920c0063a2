// Round trips of the real fixtures through loadModel/saveModel, checked with
// onnxruntime (bit-identical outputs) and for byte-stable re-serialization.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { hoistConstants } from '../../src/passes/hoist-constants.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';
import { onnxCheck, pythonOnnx, runOrt, sameOutputs, seededFloatInputs, type OrtOutput } from '../helpers/onnx-oracle.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir('splitc-serde-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const initializerStorageKinds = (m: Model): string[] => [...m.graph.initializers.values()].map((v) => v.constValue!.storage.kind);

describe.each(fixtures())('fixture $file', (fx) => {
  const feeds = () => seededFloatInputs(fx.inputShapes, 1234);
  let reference: Record<string, OrtOutput>;
  beforeAll(async () => {
    reference = await runOrt(fx.path, feeds());
  });

  it('loads, verifies, and saves to a file ORT runs with bit-identical outputs; re-saving is byte-identical', async () => {
    const m = loadModel(fx.path);
    assertValid(m);
    const first = path.join(dir, `rt-${fx.file}`);
    saveModel(m, first);
    const out = await runOrt(first, feeds());
    expect(sameOutputs(reference, out)).toEqual({ same: true, why: '' });

    const again = loadModel(first);
    assertValid(again);
    const second = path.join(dir, `rt2-${fx.file}`);
    saveModel(again, second);
    expect(fs.readFileSync(second).equals(fs.readFileSync(first))).toBe(true);
    // in memory and on disk agree
    expect(Buffer.from(modelToBytes(again)).equals(fs.readFileSync(first))).toBe(true);
  });

  it('same IR serializes to identical bytes twice', () => {
    const m = loadModel(fx.path);
    const a = modelToBytes(m);
    const b = modelToBytes(m);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('keeps bit-identical outputs after hoist-constants, and the hoisted file is stable', async () => {
    const m = loadModel(fx.path);
    const constantsBefore = [...m.graph.nodes].filter((n) => n.opType === 'Constant').length;
    const { modified } = hoistConstants(m);
    expect(modified).toBe(constantsBefore > 0);
    assertValid(m);
    expect([...m.graph.nodes].filter((n) => n.opType === 'Constant')).toHaveLength(0);
    const file = path.join(dir, `hoisted-${fx.file}`);
    saveModel(m, file);
    const out = await runOrt(file, feeds());
    expect(sameOutputs(reference, out)).toEqual({ same: true, why: '' });

    const file2 = path.join(dir, `hoisted2-${fx.file}`);
    saveModel(loadModel(file), file2);
    expect(fs.readFileSync(file2).equals(fs.readFileSync(file))).toBe(true);
  });

  it('external data: large initializers go to a .data file read lazily; ORT agrees; re-saving is deterministic', async () => {
    const m = loadModel(fx.path);
    hoistConstants(m);
    const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
    const file = path.join(sub, 'model.onnx');
    const res = saveModel(m, file, { externalDataThreshold: 1024 });
    const dataFile = path.join(sub, 'model.onnx.data');
    expect(res.externalDataFile).toBe(dataFile);
    expect(fs.existsSync(dataFile)).toBe(true);
    expect(fs.statSync(dataFile).size).toBe(res.externalBytes);
    expect(res.externalBytes).toBeGreaterThan(0);
    expect(fs.statSync(file).size).toBeLessThan(fs.statSync(fx.path).size - res.externalBytes / 2);

    const loaded = loadModel(file);
    assertValid(loaded);
    const kinds = initializerStorageKinds(loaded);
    expect(kinds).toContain('external');
    // every initializer of >= 1 KiB is external, every smaller one is not
    for (const v of loaded.graph.initializers.values()) {
      const t = v.constValue!;
      expect(t.storage.kind === 'external').toBe(t.expectedByteLength >= 1024);
    }
    // lazy: deleting the data file after load makes bytes() fail with E_EXTERNAL_DATA,
    // so nothing had been read yet; restoring it makes bytes() work again.
    const backup = `${dataFile}.bak`;
    fs.renameSync(dataFile, backup);
    const ext = [...loaded.graph.initializers.values()].find((v) => v.constValue!.storage.kind === 'external')!.constValue!;
    expect(() => ext.bytes()).toThrowError(expect.objectContaining({ code: 'E_EXTERNAL_DATA' }));
    fs.renameSync(backup, dataFile);
    expect(ext.bytes().byteLength).toBe(ext.expectedByteLength);

    const out = await runOrt(file, feeds());
    expect(sameOutputs(reference, out)).toEqual({ same: true, why: '' });

    // re-save the externally stored model elsewhere: same bytes, same data file
    const sub2 = fs.mkdtempSync(path.join(dir, 'ext2-'));
    const file2 = path.join(sub2, 'model.onnx');
    saveModel(loaded, file2, { externalDataThreshold: 1024 });
    expect(fs.readFileSync(file2).equals(fs.readFileSync(file))).toBe(true);
    expect(fs.readFileSync(`${file2}.data`).equals(fs.readFileSync(dataFile))).toBe(true);

    // without a threshold external tensors stay external (keepExternal) by default
    const sub3 = fs.mkdtempSync(path.join(dir, 'ext3-'));
    saveModel(loaded, path.join(sub3, 'model.onnx'));
    expect(fs.readFileSync(path.join(sub3, 'model.onnx')).equals(fs.readFileSync(file))).toBe(true);

    // modelToBytes inlines external data: identical to saving the hoisted model in one file
    const inline = modelToBytes(loaded);
    const hoistedInOne = path.join(sub3, 'inline.onnx');
    saveModel(m, path.join(sub3, 'plain.onnx'), { externalDataThreshold: Number.MAX_SAFE_INTEGER });
    fs.writeFileSync(hoistedInOne, inline);
    expect(fs.readFileSync(hoistedInOne).equals(fs.readFileSync(path.join(sub3, 'plain.onnx')))).toBe(true);
  });
});

describe('external data file name', () => {
  it('writes to the given externalDataName, and the model loads and runs from it', async () => {
    const fx = fixtures()[0]!;
    const m = loadModel(fx.path);
    hoistConstants(m);
    const sub = fs.mkdtempSync(path.join(dir, 'named-'));
    const file = path.join(sub, 'cls.onnx');
    const res = saveModel(m, file, { externalDataThreshold: 4096, externalDataName: 'weights.bin' });
    expect(res.externalDataFile).toBe(path.join(sub, 'weights.bin'));
    expect(fs.readdirSync(sub).sort()).toEqual(['cls.onnx', 'weights.bin']);
    const loaded = loadModel(file);
    const ext = [...loaded.graph.initializers.values()].filter((v) => v.constValue!.storage.kind === 'external');
    expect(ext.length).toBeGreaterThan(0);
    for (const v of ext) expect((v.constValue!.storage as unknown as { location: string }).location).toBe('weights.bin');
    const feeds = () => seededFloatInputs(fx.inputShapes, 7);
    expect(sameOutputs(await runOrt(fx.path, feeds()), await runOrt(file, feeds()))).toEqual({ same: true, why: '' });
  });

  it('re-saving a model over its own files keeps it valid (storages are re-pointed)', async () => {
    const fx = fixtures()[0]!;
    const m = loadModel(fx.path);
    hoistConstants(m);
    const sub = fs.mkdtempSync(path.join(dir, 'inplace-'));
    const file = path.join(sub, 'm.onnx');
    saveModel(m, file, { externalDataThreshold: 16 * 1024 });
    const loaded = loadModel(file);
    // overwrite with a different layout: more tensors external, so offsets move
    saveModel(loaded, file, { externalDataThreshold: 1024 });
    assertValid(loaded);
    // the in-memory model still holds the right bytes
    const fresh = loadModel(file);
    for (const [name, v] of loaded.graph.initializers) {
      const a = Buffer.from(v.constValue!.bytes());
      const b = Buffer.from(fresh.graph.initializers.get(name)!.constValue!.bytes());
      expect(a.equals(b), name).toBe(true);
    }
    const feeds = () => seededFloatInputs(fx.inputShapes, 3);
    expect(sameOutputs(await runOrt(fx.path, feeds()), await runOrt(file, feeds()))).toEqual({ same: true, why: '' });
    expect(fs.readdirSync(sub).sort()).toEqual(['m.onnx', 'm.onnx.data']);
  });
});

describe.skipIf(!pythonOnnx().ok)(`onnx.checker (full_check) on written fixture files [${pythonOnnx().reason}]`, () => {
  it('accepts the re-saved classifier, with and without external data', () => {
    const fx = fixtures()[0]!;
    const m = loadModel(fx.path);
    const sub = fs.mkdtempSync(path.join(dir, 'check-'));
    saveModel(m, path.join(sub, 'a.onnx'));
    expect(onnxCheck(path.join(sub, 'a.onnx'))).toEqual({ ok: true, message: 'ok' });
    hoistConstants(m);
    saveModel(m, path.join(sub, 'b.onnx'), { externalDataThreshold: 1024 });
    expect(onnxCheck(path.join(sub, 'b.onnx'))).toEqual({ ok: true, message: 'ok' });
  });
});

describe('intermediateTypes: false', () => {
  it('drops value_info of intermediates but keeps input and output types, and runs the same', async () => {
    const fx = fixtures()[0]!;
    const m = loadModel(fx.path);
    const { inferShapes } = await import('../../src/passes/shape/index.js');
    inferShapes(m, { inputShapes: fx.inputShapes });
    const { deserializeModel } = await import('../../src/ir/serde/read.js');
    const full = deserializeModel(modelToBytes(m));
    const lean = deserializeModel(modelToBytes(m, { intermediateTypes: false }));
    const typedIntermediates = (x: Model) => [...x.graph.nodes].flatMap((n) => n.outputs).filter((v) => v.type && !x.graph.outputs.includes(v)).length;
    expect(typedIntermediates(full)).toBeGreaterThan(100);
    expect(typedIntermediates(lean)).toBe(0);
    expect(lean.graph.inputs.map((v) => v.shape)).toEqual(full.graph.inputs.map((v) => v.shape));
    expect(lean.graph.outputs.map((v) => v.shape)).toEqual(full.graph.outputs.map((v) => v.shape));
    const feeds = seededFloatInputs(fx.inputShapes);
    expect(sameOutputs(await runOrt(modelToBytes(m, { intermediateTypes: false }), feeds), await runOrt(modelToBytes(m), feeds))).toEqual({ same: true, why: '' });
  });
});
