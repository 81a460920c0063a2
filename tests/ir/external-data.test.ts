// External data stays inside the model's folder: symbolic links (a linked data file or a
// linked sub-folder) that lead elsewhere are refused with E_EXTERNAL_DATA at load, and
// `splitc convert` writes nothing; links that stay inside the folder still work.
// Also the strict reading of external offsets and the opset bound.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel, modelToBytes, saveModel } from '../../src/ir/serde/io.js';
import { deserializeModel, MAX_OPSET } from '../../src/ir/serde/read.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { WireWriter } from '../../src/ir/serde/wire.js';
import { assertValid } from '../../src/ir/verify.js';
import { codeOf } from '../helpers/codes.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';

let dir: string;
beforeAll(() => {
  dir = tmpDir('splitc-external-data-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function small(): Model {
  const b = new GraphBuilder('small');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const w = b.weight('w', [4, 4], 3);
  b.output(b.op('MatMul', [x, w], {}, { outputNames: ['y'] }));
  return b.model({ opset: 17 });
}

/**
 * A folder `model/` holding m.onnx whose weight lives at `location` (e.g. 'w.bin' or
 * 'd/x.bin'), and a folder `outside/` next to it; the data is first written inside.
 */
function layout(location: string): { modelDir: string; outside: string; file: string; weights: Uint8Array } {
  const root = fs.mkdtempSync(path.join(dir, 'case-'));
  const modelDir = path.join(root, 'model');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(path.dirname(path.join(modelDir, location)), { recursive: true });
  fs.mkdirSync(outside);
  const model = small();
  const file = path.join(modelDir, 'm.onnx');
  saveModel(model, file, { externalDataThreshold: 16, externalDataName: location });
  const weights = fs.readFileSync(path.join(modelDir, location));
  return { modelDir, outside, file, weights };
}

/** Move `rel` (a file or folder inside modelDir) to `outside` and leave a symbolic link in its place. */
function linkOut(modelDir: string, rel: string, outside: string): void {
  const target = path.join(outside, path.basename(rel));
  fs.renameSync(path.join(modelDir, rel), target);
  fs.symlinkSync(target, path.join(modelDir, rel));
}

const cli = path.join(repoRoot, 'bin/splitc.js');
function convert(input: string, output: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'convert', input, output, '--external-data-threshold', '16'], { encoding: 'utf8', cwd: repoRoot });
  return { code: r.status, stderr: r.stderr };
}

describe('external data behind symbolic links', () => {
  it('a data file that links outside the folder → E_EXTERNAL_DATA', () => {
    const { modelDir, outside, file } = layout('w.bin');
    linkOut(modelDir, 'w.bin', outside);
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it('a data file in a sub-folder that links outside → E_EXTERNAL_DATA', () => {
    const { modelDir, outside, file } = layout('d/x.bin');
    linkOut(modelDir, 'd', outside);
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it('links that stay inside the folder still load', () => {
    const { modelDir, file, weights } = layout('d/x.bin');
    fs.renameSync(path.join(modelDir, 'd'), path.join(modelDir, 'real-d'));
    fs.symlinkSync('real-d', path.join(modelDir, 'd'));
    fs.renameSync(path.join(modelDir, 'real-d/x.bin'), path.join(modelDir, 'real-d/y.bin'));
    fs.symlinkSync('y.bin', path.join(modelDir, 'real-d/x.bin'));
    const m = loadModel(file);
    assertValid(m);
    expect(m.graph.initializers.get('w')!.constValue!.bytes()).toEqual(new Uint8Array(weights));
  });

  it('a model reached through a linked folder reads its own data', () => {
    const { modelDir, file, weights } = layout('w.bin');
    const alias = path.join(path.dirname(modelDir), 'alias');
    fs.symlinkSync(modelDir, alias);
    expect(loadModel(path.join(alias, path.basename(file))).graph.initializers.get('w')!.constValue!.bytes()).toEqual(new Uint8Array(weights));
  });

  it('a location naming a folder → E_EXTERNAL_DATA at load', () => {
    const { modelDir, file } = layout('w.bin');
    fs.rmSync(path.join(modelDir, 'w.bin'));
    fs.mkdirSync(path.join(modelDir, 'w.bin'));
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });
});

describe('splitc convert refuses data outside the folder and writes nothing', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(repoRoot, 'dist/cli/main.js'))) throw new Error('run `npm run build` first');
  });

  it.each([
    ['a linked data file', 'w.bin', 'w.bin'],
    ['a linked sub-folder', 'd/x.bin', 'd'],
  ])('%s → E_EXTERNAL_DATA, no output', (_why, location, link) => {
    const { modelDir, outside, file } = layout(location);
    linkOut(modelDir, link, outside);
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const r = convert(file, path.join(outDir, 'o.onnx'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error E_EXTERNAL_DATA: /);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  it('a location naming a folder → E_EXTERNAL_DATA, no output', () => {
    const { modelDir, file } = layout('w.bin');
    fs.rmSync(path.join(modelDir, 'w.bin'));
    fs.mkdirSync(path.join(modelDir, 'w.bin'));
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const r = convert(file, path.join(outDir, 'o.onnx'));
    expect(r.stderr).toMatch(/^error E_EXTERNAL_DATA: /);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  it('a link inside the folder converts (control)', () => {
    const { modelDir, file } = layout('w.bin');
    fs.renameSync(path.join(modelDir, 'w.bin'), path.join(modelDir, 'v.bin'));
    fs.symlinkSync('v.bin', path.join(modelDir, 'w.bin'));
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const r = convert(file, path.join(outDir, 'o.onnx'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(outDir).sort()).toEqual(['o.onnx', 'o.onnx.data']);
  });
});

/** Bytes of a model whose initializer 't' (float32[4]) is stored externally with these entries. */
function extModel(entries: [string, string][]): Uint8Array {
  const w = new WireWriter();
  w.int64Field(1, 8);
  w.fork(); // graph
  w.fork(); // node Relu(t) -> y
  w.stringField(1, 't');
  w.stringField(2, 'y');
  w.stringField(4, 'Relu');
  w.finish(1);
  w.fork(); // initializer
  w.fork();
  w.int64(4);
  w.finish(1);
  w.uintField(2, DataType.FLOAT);
  w.stringField(8, 't');
  for (const [k, v] of entries) {
    w.fork();
    w.stringField(1, k);
    w.stringField(2, v);
    w.finish(13);
  }
  w.uintField(14, 1);
  w.finish(5);
  w.fork();
  w.stringField(1, 'y');
  w.finish(12);
  w.finish(7);
  w.fork(); // opset_import
  w.int64Field(2, 17);
  w.finish(8);
  const { parts, length } = w.finishParts();
  return concatBytes(parts, length);
}

describe('external offsets and lengths are plain decimal integers', () => {
  function loadWith(entries: [string, string][]): Model {
    const sub = fs.mkdtempSync(path.join(dir, 'off-'));
    fs.writeFileSync(path.join(sub, 'ok.data'), new Uint8Array(64));
    const file = path.join(sub, 'm.onnx');
    fs.writeFileSync(file, extModel([['location', 'ok.data'], ...entries]));
    return loadModel(file);
  }

  it('offset "16" loads (control)', () => {
    expect(loadWith([['offset', '16']]).graph.initializers.get('t')!.constValue!.bytes().byteLength).toBe(16);
  });

  // E_EXTERNAL_DATA, like the other invalid offsets: the entry is readable protobuf, its value is wrong.
  it.each([[''], [' '], ['0x10'], ['+8'], ['8.0'], [' 8']])('offset %j → E_EXTERNAL_DATA', (offset) => {
    expect(codeOf(() => loadWith([['offset', offset]]))).toBe('E_EXTERNAL_DATA');
  });

  it.each([['.'], ['sub']])('location %j (the folder itself or a sub-folder) → E_EXTERNAL_DATA', (location) => {
    const sub = fs.mkdtempSync(path.join(dir, 'loc-'));
    fs.mkdirSync(path.join(sub, 'sub'));
    const file = path.join(sub, 'm.onnx');
    fs.writeFileSync(file, extModel([['location', location]]));
    expect(codeOf(() => loadModel(file))).toBe('E_EXTERNAL_DATA');
  });

  it.each([[''], ['0x10']])('length %j → E_EXTERNAL_DATA', (length) => {
    expect(codeOf(() => loadWith([['length', length]]))).toBe('E_EXTERNAL_DATA');
  });
});

describe('opset bound', () => {
  it.each([2 ** 40, 2 ** 31, MAX_OPSET + 1])('default-domain opset %i → E_OPSET', (v) => {
    const m = small();
    m.opsetImports.set('', v);
    expect(codeOf(() => deserializeModel(modelToBytes(m)))).toBe('E_OPSET');
  });

  it(`opset ${MAX_OPSET} (the newest onnxruntime loads) is accepted`, () => {
    const m = small();
    m.opsetImports.set('', MAX_OPSET);
    expect(deserializeModel(modelToBytes(m)).opsetImports.get('')).toBe(MAX_OPSET);
  });
});
