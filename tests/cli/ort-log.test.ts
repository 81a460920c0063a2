// CLI commands that load a user's model into onnxruntime keep its warnings off stderr, so
// `--json` output and splitc's own messages are all a user sees.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/ir/serde/io.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { ortLogLines, unusedInitializerModel } from '../helpers/ort-log.js';

function run(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), ...args], { encoding: 'utf8', cwd: repoRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('onnxruntime warnings stay off the CLI stderr', () => {
  let dir: string;
  let model: string;
  beforeAll(() => {
    dir = tmpDir();
    model = path.join(dir, 'unused.onnx');
    saveModel(unusedInitializerModel(), model);
  });

  it('split --compress --json (calibration and fidelity sessions)', () => {
    const r = run(['split', model, '--cut-after', 'relu', '--compress', 'int8', '--calib', 'random:8', '-o', path.join(dir, 'bundle'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('bundle');
    expect(ortLogLines(r.stderr)).toEqual([]);
  });

  it.each(['node', 'wasm'])('profile --backend %s', (backend) => {
    const r = run(['profile', model, '--backend', backend, '--warmup', '1', '--repeats', '1', '-o', path.join(dir, `${backend}.json`), '--json']);
    expect(r.code).toBe(0);
    expect(ortLogLines(r.stderr)).toEqual([]);
  });
});
