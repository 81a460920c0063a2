// The server fuzz of tests/runtime/fuzz.test.ts (2,400 requests there) at a larger size and
// other seeds: seeded, structurally mutated JSON and binary infer requests, corrupted bytes,
// random headers, methods and paths, compressed and mislabelled bodies, and malformed HTTP
// on raw sockets, against one server. Every answer must be a well-formed HTTP response
// (a result or a coded JSON error); the server must not crash or hang, must hold no request
// afterwards, and must still answer a valid request.
//
//   npx tsx bench/fuzz-server.ts [--cases 50000] [--seeds 20240601,1,2]
//
// Runs the test file under vitest once per seed with SPLITC_SERVER_FUZZ_CASES/_SEED set.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cases = Number(arg('cases', '50000'));
const seeds = arg('seeds', '20240601,1,2').split(',').map(Number);
const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
console.log(`server fuzz: ${cases} requests per seed, ${Math.max(100, Math.round(cases / 24))} malformed connections; ${cpu}, ${os.availableParallelism()} cores\n`);
console.log('| seed | requests | result | seconds |\n| --- | --- | --- | --- |');
let failed = 0;
for (const seed of seeds) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', 'tests/runtime/fuzz.test.ts'], {
    cwd: repoRoot,
    env: { ...process.env, SPLITC_SERVER_FUZZ_CASES: String(cases), SPLITC_SERVER_FUZZ_SEED: String(seed) },
    encoding: 'utf8',
  });
  const seconds = (performance.now() - t0) / 1000;
  const ok = r.status === 0;
  if (!ok) {
    failed++;
    process.stderr.write(r.stdout + r.stderr);
  }
  console.log(`| ${seed} | ${cases} | ${ok ? 'passed' : 'FAILED'} | ${seconds.toFixed(1)} |`);
}
process.exitCode = failed ? 1 : 0;
