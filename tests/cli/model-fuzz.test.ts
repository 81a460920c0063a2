// Seeded fuzz of `inspectModel` and `convertModel` on mutated model folders (see
// model-fuzz-lib.ts), with every file access recorded: no crash, no hang, no read outside
// the model's folder. Runs in a child process so a hang or a memory blow-up is caught and
// named. bench/fuzz-models.ts runs the same fuzz at 20,000 cases. Also: the access tracker
// it relies on does catch reads outside (directly, through links, via file descriptors).

import * as fs from 'node:fs';
import * as fsNs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../src/ir/serde/io.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { strayAccesses, trackAccesses } from '../helpers/read-tracker.js';
import { type ChildConfig, describeCase, formatModelFuzzSummary, runInChild } from './model-fuzz-lib.js';

const SEED = 20261207;
const CASES = 4000;
const STALL_MS = 10_000; // a hang detector, not a speed claim
const RSS_LIMIT_BYTES = 3 * 2 ** 30;

describe('the file access tracker', () => {
  let root: string;
  let modelDir: string;
  let realModelDir: string;
  let secret: string;
  beforeAll(() => {
    root = tmpDir('splitc-tracker-');
    modelDir = path.join(root, 'model');
    fs.mkdirSync(modelDir);
    fs.mkdirSync(path.join(root, 'outside'));
    secret = path.join(root, 'outside', 'secret.bin');
    fs.writeFileSync(secret, 'secret');
    fs.writeFileSync(path.join(modelDir, 'inside.bin'), 'inside');
    fs.symlinkSync('../outside/secret.bin', path.join(modelDir, 'w.bin'));
    fs.symlinkSync('../outside', path.join(modelDir, 'd'));
    realModelDir = fs.realpathSync(modelDir);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const stray = (fn: () => unknown): string[] =>
    strayAccesses(trackAccesses(fn).accesses, [realModelDir], [realModelDir]).map((a) => `${a.kind} ${a.op} ${path.relative(root, a.real)}`);

  it('reports a read outside the folder, through the ESM namespace product code uses', () => {
    expect(stray(() => fsNs.readFileSync(secret))).toEqual(['read readFileSync outside/secret.bin']);
  });

  it('follows links: a file or a folder inside that leads outside', () => {
    expect(stray(() => fs.readFileSync(path.join(modelDir, 'w.bin')))).toEqual(['read readFileSync outside/secret.bin']);
    expect(stray(() => fs.statSync(path.join(modelDir, 'd', 'secret.bin')))).toEqual(['read statSync outside/secret.bin']);
  });

  it('attributes reads on a descriptor to the file it was opened on', () => {
    const accesses = stray(() => {
      const fd = fs.openSync(path.join(modelDir, 'w.bin'), 'r');
      fs.readSync(fd, Buffer.alloc(4), 0, 4, 0);
      fs.closeSync(fd);
    });
    expect(accesses).toEqual(['read openSync outside/secret.bin', 'read readSync outside/secret.bin']);
  });

  it('reports writes outside, and nothing for accesses inside', () => {
    expect(stray(() => fs.writeFileSync(path.join(root, 'outside', 'new.bin'), 'x'))).toEqual(['write writeFileSync outside/new.bin']);
    expect(stray(() => fs.readFileSync(path.join(modelDir, 'inside.bin')))).toEqual([]);
  });

  it("catches the product's own reads: a loaded model's data file swapped for a link out, then read", () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', DataType.FLOAT, [1, 4]);
    b.output(b.op('MatMul', [x, b.weight('w', [4, 4], 1)], {}, { outputNames: ['y'] }));
    const file = path.join(modelDir, 'm.onnx');
    saveModel(b.model({ opset: 17 }), file, { externalDataThreshold: 16 });
    const model = loadModel(file);
    // after the load's checks, the data file becomes a link out: the lazy read follows it
    fs.renameSync(`${file}.data`, path.join(root, 'outside', 'm.onnx.data'));
    fs.symlinkSync('../outside/m.onnx.data', `${file}.data`);
    const weight = model.graph.initializers.get('w')!.constValue!;
    expect(stray(() => weight.bytes())).toEqual(['read openSync outside/m.onnx.data', 'read readSync outside/m.onnx.data']);
  });
});

it(`fuzzes inspect and convert on ${CASES} mutated model folders: coded errors only, no reads outside (seed ${SEED})`, async () => {
  const workDir = tmpDir('splitc-model-fuzz-');
  const config: ChildConfig = { seed: SEED, cases: CASES, workDir, rssLimitBytes: RSS_LIMIT_BYTES, stopOnFailure: false };
  const run = await runInChild(config, { repoRoot, stallMs: STALL_MS });
  fs.rmSync(workDir, { recursive: true, force: true });

  const failed = run.failures.slice(0, 20).map((f) => `#${f.index} seed ${f.seed} ${f.source} ${f.scenario} [${f.what}]: ${f.message}`);
  if (run.killedFor) expect.fail(`model fuzz child killed: ${run.killedFor} at ${describeCase(run.last)}; failures before:\n${failed.join('\n')}`);
  expect(run.done, `model fuzz child exited with ${run.exitCode} before reporting, last ${describeCase(run.last)}`).not.toBeNull();
  const { summary, failures } = run.done!;
  console.log(formatModelFuzzSummary(summary));
  expect(failures.slice(0, 20).map((f) => `#${f.index} seed ${f.seed} ${f.source} ${f.scenario} [${f.what}]: ${f.message}`)).toEqual([]);
  expect(summary.cases).toBe(CASES);
  // floors, so the fuzz cannot silently degenerate into one error path
  expect(summary.successes).toBeGreaterThan(CASES / 10);
  const codes = new Set(Object.keys(summary.errorsByCode).map((k) => k.split(':')[1]));
  expect(codes.size).toBeGreaterThanOrEqual(6);
  expect(summary.errorsByCode['inspect:E_EXTERNAL_DATA']).toBeGreaterThan(CASES / 10);
  expect(summary.escapeCases).toBeGreaterThan(CASES / 20);
  for (const s of ['inline', 'ext-bytes', 'ext-entries', 'ext-record', 'ext-datafile']) expect(summary.byScenario[s]).toBeGreaterThan(CASES / 20);
  expect(Object.keys(summary.bySource).length).toBeGreaterThanOrEqual(6);
}, 180_000);
