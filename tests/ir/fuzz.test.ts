// Seeded mutation fuzzing of the reader, verifier, hoist-constants and writer (see
// fuzz-lib.ts). Runs in a child process so a hang or a memory blow-up is caught and
// attributed to a case instead of stalling the test run.

import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { fixtures, repoRoot, tmpDir } from '../helpers/fixtures.js';
import type { ChildConfig } from './fuzz-child.js';
import { formatSummary, type FuzzFailure, type FuzzSummary } from './fuzz-lib.js';

const SEED = 20251123;
const CASE_TIME_LIMIT_MS = 5000; // a hang detector, not a speed claim
const RSS_LIMIT_BYTES = 3 * 2 ** 30;

interface CaseMsg {
  type: 'case';
  index: number;
  seed: number;
  source: string;
  mutation: string;
}
interface DoneMsg {
  type: 'done';
  summary: FuzzSummary;
  failures: FuzzFailure[];
}

function rssOf(pid: number): number {
  try {
    const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * 4096;
  } catch {
    return 0;
  }
}

it(`fuzzes mutated fixtures: every case ends in success or a SplitcError (seed ${SEED})`, async () => {
  const byName = new Map(fixtures().map((f) => [f.file, f.path]));
  const baseDir = tmpDir('splitc-fuzz-');
  const configFile = path.join(baseDir, 'config.json');
  const config: ChildConfig = {
    seed: SEED,
    files: [
      { name: 'cls', file: byName.get('ch_ppocr_mobile_v2.0_cls_infer.onnx')!, cases: 2000 },
      { name: 'det', file: byName.get('ch_PP-OCRv4_det_infer.onnx')!, cases: 100 },
      { name: 'rec', file: byName.get('ch_PP-OCRv4_rec_infer.onnx')!, cases: 100 },
    ],
    syntheticCases: 700,
    baseDir: fs.mkdtempSync(path.join(baseDir, 'models-')),
    caseTimeLimitMs: CASE_TIME_LIMIT_MS,
    rssLimitBytes: RSS_LIMIT_BYTES,
  };
  fs.writeFileSync(configFile, JSON.stringify(config));

  const child = fork(path.join(repoRoot, 'tests/ir/fuzz-child.ts'), [configFile], {
    execArgv: ['--import', 'tsx'],
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  let last: CaseMsg | null = null;
  let lastAt = Date.now();
  let done: DoneMsg | null = null;
  let killedFor: string | null = null;
  child.on('message', (m: CaseMsg | DoneMsg) => {
    if (m.type === 'case') {
      last = m;
      lastAt = Date.now();
    } else done = m;
  });
  const watchdog = setInterval(() => {
    const waitedMs = Date.now() - lastAt;
    // startup (loading tsx, the fixtures, walking them) gets a longer allowance
    const limit = last ? CASE_TIME_LIMIT_MS * 2 : 60_000;
    const rss = rssOf(child.pid!);
    if (!done && (waitedMs > limit || rss > RSS_LIMIT_BYTES)) {
      killedFor = waitedMs > limit ? `no progress for ${waitedMs} ms` : `RSS ${(rss / 2 ** 20).toFixed(0)} MiB`;
      child.kill('SIGKILL');
    }
  }, 100);
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  clearInterval(watchdog);
  fs.rmSync(baseDir, { recursive: true, force: true });

  const at = (c: CaseMsg | null) => (c ? `case #${c.index} (seed ${c.seed}, ${c.source}, ${c.mutation})` : 'startup');
  if (killedFor) expect.fail(`fuzz child killed: ${killedFor} at ${at(last)}`);
  expect(done, `fuzz child exited with ${exitCode} before reporting, last ${at(last)}`).not.toBeNull();
  const { summary, failures } = done! as DoneMsg;
  console.log(formatSummary(summary));
  for (const f of failures) {
    console.error(`fuzz failure: case #${f.index} (seed ${f.seed}, ${f.source}, ${f.mutation}): ${f.message}\n${f.stack}`);
  }
  expect(failures.map((f) => `#${f.index} seed ${f.seed} ${f.source} ${f.mutation}: ${f.message}\n${f.stack}`)).toEqual([]);
  expect(summary.cases).toBeGreaterThanOrEqual(2000);
  // the mutations reach past the reader: many cases load, verify, hoist and re-serialize
  expect(summary.successes).toBeGreaterThan(summary.cases / 10);
  expect(Object.keys(summary.errorsByCode).length).toBeGreaterThan(4);
}, 180_000);
