// Model-reader fuzz at scale: the fuzz of tests/cli/model-fuzz.test.ts (mutated models and
// external data, every case through inspectModel and convertModel with file accesses
// tracked) for many more cases, in a child process with the same watchdog (a case that makes
// no progress for 10 s, or RSS over 3 GiB, kills it and is named). Prints the outcomes by
// error code, peak RSS, elapsed time and the CPU. Exits 1 on any failure.
//
//   npx tsx bench/fuzz-models.ts [--cases 20000] [--seed 20261207] [--only 12,345]
//
// --only replays the listed case indices of a run (same --seed). Temp files go to a folder
// under os.tmpdir() that is removed at the end.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ChildConfig, describeCase, formatModelFuzzSummary, runInChild } from '../tests/cli/model-fuzz-lib.js';
import { arg } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cases = Number(arg('cases', '20000'));
const seed = Number(arg('seed', '20261207'));
const only = arg('only', '');
if (!Number.isInteger(cases) || cases < 1 || !Number.isInteger(seed)) throw new Error('--cases must be a positive integer and --seed an integer');

const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-fuzz-models-'));
const config: ChildConfig = {
  seed,
  cases,
  ...(only ? { only: only.split(',').map(Number) } : {}),
  workDir,
  rssLimitBytes: 3 * 2 ** 30,
  stopOnFailure: false,
};
let shown = 0;
const started = Date.now();
const run = await runInChild(config, {
  repoRoot,
  stallMs: 10_000,
  onProgress: (m) => {
    if (m.index > 0 && m.index % 5000 === 0) process.stderr.write(`… case ${m.index} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  },
});
fs.rmSync(workDir, { recursive: true, force: true });

console.log(`CPU: ${cpu} (${os.cpus().length} cores); seed ${seed}`);
if (run.done) {
  const s = run.done.summary;
  console.log(formatModelFuzzSummary(s));
  const codes = [...new Set(Object.keys(s.errorsByCode).map((k) => k.split(':')[1]!))].sort();
  console.log('\n| outcome | inspect | convert |\n|---|---:|---:|');
  console.log(`| success | ${s.inspectOk} | ${s.convertOk} |`);
  for (const c of codes) console.log(`| ${c} | ${s.errorsByCode[`inspect:${c}`] ?? 0} | ${s.errorsByCode[`convert:${c}`] ?? 0} |`);
  console.log('');
}
for (const f of run.failures) {
  if (shown++ < 50) console.log(`FAILURE #${f.index} (seed ${f.seed}, ${f.source}, ${f.scenario}: ${f.what}): ${f.message}`);
}
if (run.killedFor) console.log(`KILLED: ${run.killedFor} at ${describeCase(run.last)}`);
else if (!run.done) console.log(`the child exited with ${run.exitCode} at ${describeCase(run.last)}`);
const failed = run.failures.length > 0 || !run.done;
console.log(failed ? `${run.failures.length} failure(s)` : 'no failures: every case ended in success or a SplitcError, no file read outside the model folder');
process.exitCode = failed ? 1 : 0;
