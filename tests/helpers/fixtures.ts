// Shared test helpers: fixture paths and their input shapes (from fixtures/models/manifest.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const fixturesDir = path.join(repoRoot, 'fixtures/models');

export interface FixtureEntry {
  file: string;
  /** Input shapes used in tests: input name → dims. */
  inputShapes: Record<string, number[]>;
}

export function fixtures(): (FixtureEntry & { path: string })[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'manifest.json'), 'utf8')) as { models: FixtureEntry[] };
  return manifest.models.map((m) => ({ ...m, path: path.join(fixturesDir, m.file) }));
}

/** Models splitc trained itself (manifest.json "trained"), e.g. the Fashion-MNIST ResNet. */
export function trainedFixtures(): (FixtureEntry & { path: string; testAccuracy: number })[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'manifest.json'), 'utf8')) as { trained?: (FixtureEntry & { testAccuracy: number })[] };
  return (manifest.trained ?? []).map((m) => ({ ...m, path: path.join(fixturesDir, m.file) }));
}

export function tmpDir(prefix = 'splitc-test-'): string {
  return fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), prefix));
}

/** Models in other exporters' idioms (fixtures/exporters/manifest.json): PyTorch's Identity-shared weights, TF-style constant-only subgraphs. */
export function exporterFixtures(): (FixtureEntry & { path: string; idiom: string; opset: number })[] {
  const dir = path.join(repoRoot, 'fixtures/exporters');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { models: (FixtureEntry & { idiom: string; opset: number })[] };
  return manifest.models.map((m) => ({ ...m, path: path.join(dir, m.file) }));
}
