// Child process of tests/cli/model-fuzz.test.ts and bench/fuzz-models.ts: wraps node:fs
// before anything runs, then runs the model fuzz, reporting each case start over IPC so the
// parent can kill it on a hang and name the case.

import { installReadTracker } from '../helpers/read-tracker.js';
installReadTracker();

import * as fs from 'node:fs';
import { type ChildConfig, runModelFuzz } from './model-fuzz-lib.js';

const config = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as ChildConfig;
const result = await runModelFuzz(
  config,
  (m) => process.send?.(m),
  (failure) => process.send?.({ type: 'failure', failure }),
);
process.send?.({ type: 'done', ...result });
process.disconnect?.();
