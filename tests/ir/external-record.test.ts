// The data-file record saveModel writes (`splitc.external_data` metadata) is checked on load;
// that check must not become a way to read outside the model's folder (`..`, absolute paths,
// links), must refuse malformed records with E_EXTERNAL_DATA instead of a TypeError, and
// must not open a named pipe (which blocks). Tensors' own locations are refused before
// anything stats the file outside. Found by tests/cli/model-fuzz.test.ts.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { EXTERNAL_DATA_KEY, loadModel, saveModel } from '../../src/ir/serde/io.js';
import { serializeModel } from '../../src/ir/serde/write.js';
import { concatBytes } from '../../src/ir/bytes.js';
import { codeOf } from '../helpers/codes.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { strayAccesses, trackAccesses } from '../helpers/read-tracker.js';

let root: string;
let modelDir: string;
let outside: string;
beforeAll(() => {
  root = tmpDir('splitc-external-record-');
  modelDir = path.join(root, 'model');
  outside = path.join(root, 'outside');
  fs.mkdirSync(modelDir);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.bin'), 'secret');
  fs.symlinkSync('../outside', path.join(modelDir, 'd'));
  fs.symlinkSync('../outside/secret.bin', path.join(modelDir, 'w.bin'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function small(weightSeed = 3) {
  const b = new GraphBuilder('small');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  b.output(b.op('MatMul', [x, b.weight('w', [4, 4], weightSeed)], {}, { outputNames: ['y'] }));
  return b.model({ opset: 17 });
}

/** m.onnx in model/ (weights inline) carrying the record text `record`. */
function withRecord(name: string, record: string): string {
  const m = small();
  m.metadataProps.push([EXTERNAL_DATA_KEY, record]);
  const s = serializeModel(m);
  const file = path.join(modelDir, name);
  fs.writeFileSync(file, concatBytes(s.parts, s.length));
  return file;
}

/** Load with file accesses tracked: the error code and the accesses outside model/. */
function load(file: string): { code: string | undefined; stray: string[] } {
  const { result, accesses } = trackAccesses(() => codeOf(() => loadModel(file)));
  return { code: result, stray: strayAccesses(accesses, [fs.realpathSync(modelDir)], []).map((a) => `${a.op} ${a.real}`) };
}

describe('the external data record', () => {
  it.each([
    ['../outside/secret.bin'],
    ['w.bin'],
    ['d/secret.bin'],
    ['ABS'],
  ])('a record naming %s (outside the folder) → E_EXTERNAL_DATA, nothing outside read', (location) => {
    const loc = location === 'ABS' ? path.join(outside, 'secret.bin') : location;
    const file = withRecord(`rec-${location.replace(/\W/g, '_')}.onnx`, JSON.stringify([{ location: loc, bytes: 6, fingerprint: 'x' }]));
    expect(load(file)).toEqual({ code: 'E_EXTERNAL_DATA', stray: [] });
  });

  it.each([['[null]'], ['[{"location":5,"bytes":1,"fingerprint":"x"}]'], ['[1]'], ['[{"location":"m.onnx.data"}]']])('a malformed record %s → E_EXTERNAL_DATA', (record) => {
    const file = withRecord('malformed.onnx', record);
    expect(load(file).code).toBe('E_EXTERNAL_DATA');
  });

  it('a record whose text is not a JSON array is ignored (another tool may use the key)', () => {
    expect(load(withRecord('text.onnx', 'written by someone else')).code).toBeUndefined();
  });

  it('a record naming a named pipe → E_EXTERNAL_DATA without opening it (opening blocks)', () => {
    spawnSync('mkfifo', [path.join(modelDir, 'pipe')]);
    const file = withRecord('pipe.onnx', JSON.stringify([{ location: 'pipe', bytes: 0, fingerprint: 'x' }]));
    const script = `import { loadModel } from ${JSON.stringify(path.join(repoRoot, 'src/ir/serde/io.ts'))};
try { loadModel(${JSON.stringify(file)}); console.log('loaded'); } catch (e) { console.log(e.code ?? e.name); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
    expect({ signal: r.signal, out: r.stdout.trim() }).toEqual({ signal: null, out: 'E_EXTERNAL_DATA' });
  }, 40_000);

  it('a tensor located through a link out of the folder is refused before its target is stat-ed', () => {
    const dir = path.join(root, 'linked');
    fs.mkdirSync(path.join(dir, 'model', 'd'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'outside'));
    const file = path.join(dir, 'model', 'm.onnx');
    saveModel(small(), file, { externalDataThreshold: 16, externalDataName: 'd/x.bin' });
    fs.renameSync(path.join(dir, 'model', 'd'), path.join(dir, 'outside', 'd'));
    fs.symlinkSync('../outside/d', path.join(dir, 'model', 'd'));
    const { result, accesses } = trackAccesses(() => codeOf(() => loadModel(file)));
    expect(result).toBe('E_EXTERNAL_DATA');
    expect(strayAccesses(accesses, [fs.realpathSync(path.join(dir, 'model'))], []).map((a) => `${a.op} ${a.real}`)).toEqual([]);
  });
});
