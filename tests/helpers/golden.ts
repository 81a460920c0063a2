// Golden files: compare text with tests/golden/<path>; `npm run golden:update` (which sets
// UPDATE_GOLDEN=1) rewrites them, and the diff is reviewed in the commit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from './fixtures.js';

export function expectGolden(relPath: string, actual: string): void {
  const file = path.join(repoRoot, 'tests/golden', relPath);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    if (process.env.CI && !fs.existsSync(file)) throw new Error(`golden file ${relPath} is missing; run npm run golden:update`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}
