// Every command prints byte sizes in the one convention of src/ir/units.ts (binary units,
// three significant digits): `inspect`, `grad`, `plan` and `split --compress` side by side.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';

const cli = path.join(repoRoot, 'bin/splitc.js');
function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: repoRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every "<number> <byte unit>" in a text, SI or IEC, with or without a space. */
function sizes(text: string): { num: string; unit: string }[] {
  return [...text.matchAll(/(?<![\w.])(\d+(?:\.\d+)?) ?(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)(?![\w/])/g)].map((m) => ({ num: m[1]!, unit: m[2]! }));
}

function expectConvention(what: string, text: string): void {
  const found = sizes(text);
  expect(found.length, `${what} prints no byte size`).toBeGreaterThan(0);
  for (const { num, unit } of found) {
    const where = `${what}: '${num} ${unit}'`;
    expect(['B', 'KiB', 'MiB', 'GiB', 'TiB'], where).toContain(unit);
    expect(Number(num), where).toBeLessThan(1024);
    // three significant digits, or a whole number (bytes below 1 KiB, 1000–1023 of a unit)
    if (unit !== 'B' && num.includes('.')) expect(num.replace('.', '').replace(/^0+/, '').length, where).toBe(3);
  }
}

describe('byte sizes in text output', () => {
  const cls = fixtures()[0]!;

  it('inspect, grad, plan and split --compress use the same units', () => {
    const dir = tmpDir();
    const inspect = run(['inspect', cls.path, '--shape', 'x=1x3x48x192']);
    expect(inspect.code).toBe(0);
    expectConvention('inspect', inspect.stdout);

    const grad = run(['grad', cls.path, '--wrt', 'params', '--loss', 'sum', '--shape', 'x=1x3x48x192', '-o', path.join(dir, 'grad.onnx')]);
    expect(grad.code).toBe(0);
    expect(grad.stdout).toMatch(/^wrote .*grad\.onnx \(\d/);
    expectConvention('grad', grad.stdout);

    const plan = run(['plan', cls.path, '--edge', 'phone-wasm', '--link', 'lte', '--shape', 'x=1x3x48x192', '-o', path.join(dir, 'plan.json')]);
    expect(plan.code).toBe(0);
    expectConvention('plan', plan.stdout);

    const split = run(['split', cls.path, '--cut-after', 'p2o.Add.44', '--shape', 'x=1x3x48x192', '--compress', 'int8', '--calib', 'random:8', '-o', path.join(dir, 'bundle')]);
    expect(split.code).toBe(0);
    expect(split.stdout).toMatch(/^compression int8/m);
    expectConvention('split', split.stdout);
  });
});
