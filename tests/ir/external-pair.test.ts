// A model and its external data file from two different writes (a convert interrupted between
// its two renames, or one file copied over another) are refused on load, E_EXTERNAL_DATA,
// instead of loading with the wrong weights; bytes in memory carry no such record.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { EXTERNAL_DATA_KEY, loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { codeOf } from '../helpers/codes.js';
import { tmpDir } from '../helpers/fixtures.js';

function model(seed: number) {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 64]);
  const h = b.op('MatMul', [x, b.weight('w1', [64, 64], seed, 0.1)], {}, { name: 'mm1' });
  b.output(b.op('MatMul', [h, b.weight('w2', [64, 64], seed + 1, 0.1)], {}, { name: 'mm2' }));
  return b.model({ opset: 13 });
}

describe('a model and its external data file belong together', () => {
  it("records the data file it wrote, loads with it, and refuses another write's data", () => {
    const dir = tmpDir();
    const file = path.join(dir, 'm.onnx');
    saveModel(model(1), file, { externalDataThreshold: 16 });
    const loaded = loadModel(file);
    expect(loaded.metadataProps.find(([k]) => k === EXTERNAL_DATA_KEY)?.[1]).toMatch(/"location":"m\.onnx\.data"/);
    // another write of a model with other weights, in another folder: its data file is put in place of ours
    const other = path.join(tmpDir(), 'm.onnx');
    saveModel(model(7), other, { externalDataThreshold: 16 });
    fs.copyFileSync(`${other}.data`, `${file}.data`);
    expect(fs.statSync(`${file}.data`).size).toBe(fs.statSync(`${other}.data`).size); // same layout: only a check can tell
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
    fs.rmSync(`${file}.data`);
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it('re-saving keeps one record, of the new file; bytes in memory have none', () => {
    const dir = tmpDir();
    saveModel(model(1), path.join(dir, 'a.onnx'), { externalDataThreshold: 16 });
    const a = loadModel(path.join(dir, 'a.onnx'));
    saveModel(a, path.join(dir, 'b.onnx'), { externalDataThreshold: 16 });
    const b = loadModel(path.join(dir, 'b.onnx'));
    const records = b.metadataProps.filter(([k]) => k === EXTERNAL_DATA_KEY);
    expect(records).toHaveLength(1);
    expect(records[0]![1]).toMatch(/"location":"b\.onnx\.data"/);
    expect(deserializeModel(modelToBytes(b)).metadataProps.some(([k]) => k === EXTERNAL_DATA_KEY)).toBe(false);
    // a model saved without external data has no record
    saveModel(model(3), path.join(dir, 'c.onnx'));
    expect(fs.existsSync(path.join(dir, 'c.onnx.data'))).toBe(false);
    expect(loadModel(path.join(dir, 'c.onnx')).metadataProps.some(([k]) => k === EXTERNAL_DATA_KEY)).toBe(false);
  });
});
