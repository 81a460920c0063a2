// Two ways to run `splitc …` in a test: in-process (src/cli/program.ts's main with its output
// captured: no node start-up, ts-morph and onnxruntime loaded once per test file) for tests of a
// command's result, and spawned (bin/splitc.js → dist/) for tests of the real process.

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { main } from '../../src/cli/program.js';
import { repoRoot } from './fixtures.js';

export interface CliResult {
  /** Exit code (null when a spawned process was killed by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `splitc …args` in this process; relative paths resolve against the repository, as for spawnSplitc. */
export async function runSplitc(args: string[]): Promise<CliResult> {
  // A spawned run's cwd is the repository; chdir here would move every test in this worker.
  if (process.cwd() !== repoRoot) throw new Error(`run the tests from ${repoRoot} (cwd is ${process.cwd()})`);
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** `node bin/splitc.js …args` as a child process (the built CLI in dist/: `npm run build` first). */
export function spawnSplitc(args: string[], env?: NodeJS.ProcessEnv): CliResult {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/splitc.js'), ...args], { encoding: 'utf8', cwd: repoRoot, ...(env ? { env } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
