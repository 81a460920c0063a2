// Temporary files a killed write left behind (kill -9 during convert or split) are removed by
// the next write to the same destination, when their writer is gone; a running writer's and a
// user's file are never touched, and the user's files in a killed build's hidden old bundle
// move into the new one.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { saveModel } from '../../src/ir/serde/io.js';
import { removeStaleTemps, tempPrefix, writeFileAtomic } from '../../src/ir/temp-files.js';
import { codeOf } from '../helpers/codes.js';
import { buildFixtureBundle, middleCut } from '../codegen/helpers.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';

/** The id of a process that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

describe('stale temporary files', () => {
  let runner: ReturnType<typeof spawn>;
  beforeAll(() => {
    runner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  });
  afterAll(() => {
    runner.kill();
  });

  it('saveModel removes what a killed convert left for the model and its data file, nothing else', () => {
    const dir = tmpDir();
    const dead = deadPid();
    const stale = [`.m.onnx.splitc-tmp-${dead}-1700000000000`, `.m.onnx.data.splitc-tmp-${dead}-1700000000000`];
    const keep = [`.m.onnx.splitc-tmp-${runner.pid}-1700000000000`, '.m.onnx.notes', `.other.onnx.splitc-tmp-${dead}-1`, 'm.onnx.splitc-tmp-1-1'];
    for (const f of [...stale, ...keep]) fs.writeFileSync(path.join(dir, f), 'x'.repeat(1000));
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    b.output(b.op('MatMul', [x, b.weight('w', [64, 64], 1, 0.1)], {}, { name: 'mm' }));
    saveModel(b.model({ opset: 13 }), path.join(dir, 'm.onnx'), { externalDataThreshold: 16 });
    const left = fs.readdirSync(dir);
    for (const f of stale) expect(left).not.toContain(f);
    for (const f of keep) expect(left).toContain(f);
    expect(left).toContain('m.onnx');
    expect(left).toContain('m.onnx.data');
  });

  it("a bundle build removes a killed build's temporary folder, and recovers the user's files from its hidden old bundle", () => {
    const root = tmpDir();
    const dead = deadPid();
    const tmp = path.join(root, `.b.splitc-tmp-${dead}-abcdef12`);
    const old = path.join(root, `.b.splitc-old-${dead}-abcdef12`);
    for (const d of [tmp, old]) {
      fs.mkdirSync(path.join(d, 'cloud'), { recursive: true });
      fs.writeFileSync(path.join(d, 'cloud', 'token.txt'), 'secret');
    }
    // killed between its two renames: no bundle at the path, the old one hidden with the user's token in it
    const built = buildFixtureBundle(fixtures()[0]!, middleCut, path.join(root, 'b'));
    expect(fs.existsSync(tmp)).toBe(false);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.readFileSync(path.join(root, 'b', 'cloud', 'token.txt'), 'utf8')).toBe('secret');
    expect(built.kept).toEqual(['cloud/token.txt']);
  });

  it('ignores names that only look alike and folders it cannot read', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, '.m.onnx.splitc-tmp-notapid'), 'x');
    expect(removeStaleTemps(dir, 'm.onnx')).toEqual([]);
    expect(removeStaleTemps(path.join(dir, 'missing'), 'm.onnx')).toEqual([]);
  });
});

describe('writeFileAtomic (plans, profiles, checkpoints, audit cache entries)', () => {
  it('writes text or parts whole, removes a dead writer’s temporary, and on failure keeps the old file and leaves nothing', () => {
    const dir = tmpDir('splitc-atomic-');
    const file = path.join(dir, 'plan.json');
    const stale = path.join(dir, `${tempPrefix('plan.json')}${deadPid()}-1`);
    fs.writeFileSync(stale, 'half');
    writeFileAtomic(file, 'first');
    expect(fs.readFileSync(file, 'utf8')).toBe('first');
    expect(fs.existsSync(stale)).toBe(false);
    writeFileAtomic(file, [Buffer.from('sec'), new Uint8Array([111, 110, 100])]);
    expect(fs.readFileSync(file, 'utf8')).toBe('second');
    // a destination that is a folder cannot be replaced: E_IO naming what, the folder untouched, no temporary left
    fs.mkdirSync(path.join(dir, 'sub'));
    expect(codeOf(() => writeFileAtomic(path.join(dir, 'sub'), 'x', { what: 'the profile' }))).toBe('E_IO');
    expect(fs.statSync(path.join(dir, 'sub')).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['plan.json', 'sub']);
    // a file where the destination's folder should be: E_IO too (the clean-up's own ENOTDIR must not escape)
    expect(codeOf(() => writeFileAtomic(path.join(dir, 'plan.json', 'inner.json'), 'x', { what: 'the checkpoint' }))).toBe('E_IO');
    expect(fs.readFileSync(file, 'utf8')).toBe('second');
  });
});
