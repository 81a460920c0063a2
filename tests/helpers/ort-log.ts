// onnxruntime's own log lines on stderr, and a model that makes onnxruntime log a warning
// whenever it loads it (an initializer no node uses: "Removing initializer 'unused'").
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { repoRoot } from './fixtures.js';

/** x[1,4] → Relu (node `relu`) → Add w (node `add`) → y, plus an initializer nothing reads. */
export function unusedInitializerModel(): Model {
  const b = new GraphBuilder('unused-initializer');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const r = b.op('Relu', [x], {}, { name: 'relu', outputNames: ['r'] });
  const w = b.init('w', DataType.FLOAT, [1, 4], [1, 2, 3, 4]);
  b.init('unused', DataType.FLOAT, [3], [1, 2, 3]);
  b.output(b.op('Add', [r, w], {}, { name: 'add', outputNames: ['y'] }), { dtype: DataType.FLOAT, shape: [1, 4] });
  return b.model();
}

/** Lines onnxruntime (native or wasm) logged, e.g. `[W:onnxruntime:, graph.cc:…] Removing initializer …`. */
export function ortLogLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /\[[VIWEF]:onnxruntime|Removing initializer/.test(line));
}

/** Runs tests/helpers/ort-log-child.ts (one session kind, see there) in a fresh process. */
export function runOrtLogChild(kind: string, modelFile: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tests/helpers/ort-log-child.ts'), kind, modelFile], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
