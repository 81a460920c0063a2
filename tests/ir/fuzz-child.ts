// Child process of tests/ir/fuzz.test.ts: runs a fuzz plan and reports each case start
// over IPC, so the parent can kill it on a hang and name the case.

import * as fs from 'node:fs';
import { type FuzzSource, loadSource, runFuzz, syntheticSource } from './fuzz-lib.js';

export interface ChildConfig {
  seed: number;
  files: { name: string; file: string; cases: number }[];
  syntheticCases: number;
  baseDir: string;
  caseTimeLimitMs: number;
  rssLimitBytes: number;
}

const send = (msg: unknown): void => {
  process.send?.(msg);
};

const config = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as ChildConfig;
const sources: FuzzSource[] = config.files.map((f) => loadSource(f.name, f.file, f.cases));
if (config.syntheticCases) sources.push(syntheticSource(config.syntheticCases));
const result = runFuzz(
  { seed: config.seed, sources },
  {
    baseDir: config.baseDir,
    caseTimeLimitMs: config.caseTimeLimitMs,
    rssLimitBytes: config.rssLimitBytes,
    onCaseStart: (c) => send({ type: 'case', index: c.index, seed: c.seed, source: c.source, mutation: `${c.mutation.kind}: ${c.mutation.what}` }),
  },
);
send({ type: 'done', ...result });
process.disconnect?.();
