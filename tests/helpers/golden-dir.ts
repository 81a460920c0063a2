// Folder golden tests (Rollup-style): a case folder under tests/golden/ holds what the test
// reads (options) and what it must produce (expected/). `npm run golden:update` (UPDATE_GOLDEN=1)
// rewrites expected/ — stale files removed — and the diff is what a reviewer reads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from './fixtures.js';
import { listFiles } from './files.js';

export const goldenRoot = path.join(repoRoot, 'tests/golden');
export const updatingGolden = (): boolean => process.env.UPDATE_GOLDEN === '1';

/**
 * Expected files are stored as `<bundle-relative path>.golden`: the suffix keeps tsc, vitest
 * and formatters away from generated `.ts`/`.js`/`.json` (tsconfig includes tests/).
 */
export const GOLDEN_SUFFIX = '.golden';

/** The case folders under tests/golden/<group>, sorted (each one a test case). */
export function goldenCases(group: string): string[] {
  const dir = path.join(goldenRoot, group);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function readCaseFile(group: string, name: string, file: string): string {
  return fs.readFileSync(path.join(goldenRoot, group, name, file), 'utf8');
}

/**
 * Compares `actual` (relative path → text) with the folder tests/golden/<relDir>, file for
 * file: the same set of files, each text-for-text. Under UPDATE_GOLDEN=1 the folder is
 * rewritten to match instead (files no longer produced are deleted).
 */
export function expectGoldenDir(relDir: string, actual: ReadonlyMap<string, string>): void {
  const dir = path.join(goldenRoot, relDir);
  const wanted = new Map([...actual].map(([rel, text]) => [rel + GOLDEN_SUFFIX, text]));
  if (updatingGolden() || !fs.existsSync(dir)) {
    if (process.env.CI && !fs.existsSync(dir)) throw new Error(`golden folder ${relDir} is missing; run npm run golden:update`);
    for (const rel of listFiles(dir)) if (!wanted.has(rel)) fs.rmSync(path.join(dir, rel));
    for (const [rel, text] of wanted) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    return;
  }
  expect([...wanted.keys()].sort(), `files of ${relDir}`).toEqual(listFiles(dir));
  for (const [rel, text] of wanted) expect(text, `${relDir}/${rel}`).toBe(fs.readFileSync(path.join(dir, rel), 'utf8'));
}
