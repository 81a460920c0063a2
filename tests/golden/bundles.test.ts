// Bundle goldens ("bundles byte-identical to before on the fixtures", issue 16): for each
// case folder under tests/golden/bundles/ (options.json: model, cut, shapes, compression),
// build the bundle and compare every generated text file text-for-text with expected/,
// every model by sha256 with models.sha256, and splitc's copied run-time modules (lib/)
// by sha256 with lib.sha256. Regenerate with `npm run golden:update` and review the diff.
//
// Uncompressed cases run `splitc split` as the CLI does (runSplit). Compressed cases take
// their calibration statistics from seeded synthetic data (tests/helpers/synthetic-stats.ts)
// instead of onnxruntime runs, whose float results (and so the quantization constants
// baked into the models, and the fidelity figures) may differ in the last bits between
// CPUs; the fidelity measurement and the audit, both onnxruntime figures, are left out of
// those bundles. Nothing else needs normalising: the bundle holds no timestamps or absolute
// paths, and the tool version is the fixed '0.1.0' passed in.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../src/codegen/bundle.js';
import { readBundle } from '../../src/codegen/bundle-cloud.js';
import { bundleInputFromSplit } from '../../src/codegen/input.js';
import type { Dim } from '../../src/ir/graph.js';
import { loadModelWithBytes } from '../../src/ir/serde/io.js';
import { compressSplit } from '../../src/passes/bottleneck/compress.js';
import { formatCompressSpec, parseCompressSpec } from '../../src/passes/bottleneck/spec.js';
import { cutAfterNode, splitModel } from '../../src/passes/cut.js';
import { PassContext } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import type { Calibration } from '../../src/pipeline/calibration.js';
import { compressedBundleInput } from '../../src/pipeline/compress.js';
import { cloudFeatureHead, writeCalibratedBundle } from '../../src/pipeline/fed-calibrate.js';
import { xorshift32 } from '../../src/ir/random.js';
import { calibrationStats } from '../../src/runtime/federated/calibration.js';
import { runSplit } from '../../src/pipeline/split.js';
import type { FidelityReport } from '../../src/search/fidelity.js';
import { repoRoot, tmpDir } from '../helpers/fixtures.js';
import { expectGolden } from '../helpers/golden.js';
import { expectGoldenDir, goldenCases, readCaseFile } from '../helpers/golden-dir.js';
import { listFiles } from '../codegen/helpers.js';
import { syntheticSplitStats } from '../helpers/synthetic-stats.js';

interface BundleCase {
  /** Repo-relative model file. */
  model: string;
  cutAfter?: string;
  cut?: string[];
  shapes?: Record<string, Dim[]>;
  /** Compression spec text; absent or 'none' = uncompressed. */
  compress?: string;
  modelName?: string;
  /**
   * Then `splitc fed calibrate`'s last step on the bundle: its cloud head solved from seeded
   * synthetic statistics (unit rows z, labels) in place of onnxruntime features, whose float
   * results may differ in the last bits between CPUs.
   */
  calibrateHead?: { samples: number; seed: number; lambda: number };
}

const TOOL_VERSION = '0.1.0';
const BINARY = /\.onnx$/;
const LIB = /^(edge|cloud)\/lib\//;

/** Builds the bundle a case describes into `outDir`. */
async function buildCase(c: BundleCase, outDir: string): Promise<void> {
  if (c.calibrateHead) {
    const { calibrateHead, ...split } = c;
    const source = `${outDir}-split`;
    await buildCase(split, source);
    const bundle = readBundle(source);
    const head = cloudFeatureHead(bundle, calibrateHead.seed);
    const r = xorshift32(calibrateHead.seed);
    const { samples: n, lambda } = calibrateHead;
    const z = Float32Array.from({ length: n * head.dim }, () => r() - 0.5);
    for (let i = 0; i < n; i++) {
      const row = z.subarray(i * head.dim, (i + 1) * head.dim);
      const norm = Math.hypot(...row);
      for (let j = 0; j < head.dim; j++) row[j] = row[j]! / norm;
    }
    const labels = Int32Array.from({ length: n }, (_, i) => i % head.classes);
    const stats = calibrationStats(z, labels, n, head.dim, head.classes);
    writeCalibratedBundle(bundle, head, stats, { lambda, secure: false, seed: calibrateHead.seed, clients: 1, dataSha256: '(seeded synthetic statistics)', out: outDir });
    return;
  }
  const modelPath = path.join(repoRoot, c.model);
  const specText = c.compress ?? 'none';
  const spec = parseCompressSpec(specText);
  if (spec.stages.length === 0) {
    await runSplit({
      model: modelPath,
      ...(c.cut ? { cut: c.cut } : { cutAfter: c.cutAfter! }),
      ...(c.shapes ? { shapes: c.shapes } : {}),
      ...(c.modelName ? { modelName: c.modelName } : {}),
      outDir,
      toolVersion: TOOL_VERSION,
    });
    return;
  }
  // runSplit's steps, with synthetic statistics in place of calibration runs (see the top)
  const { model, bytes } = loadModelWithBytes(modelPath);
  const ctx = new PassContext();
  inferShapes(model, { inputShapes: c.shapes ?? {}, ctx });
  const split = splitModel(model, c.cut ?? cutAfterNode(model, c.cutAfter!), ctx);
  const plain = bundleInputFromSplit(model, split, { toolVersion: TOOL_VERSION, sourceFile: modelPath, sourceBytes: bytes, ...(c.modelName ? { modelName: c.modelName } : {}) });
  const compressed = compressSplit(split, spec, syntheticSplitStats(split, spec), ctx);
  const synthetic = { provenance: { source: 'synthetic', kind: 'random', sha256: '', calibrationSamples: 6, heldOutSamples: 0 } } as unknown as Calibration;
  const input = compressedBundleInput(plain, compressed, formatCompressSpec(spec), synthetic, {} as FidelityReport);
  const { fidelity: _fidelity, ...compression } = input.compression!;
  buildBundle(
    {
      ...input,
      compression: { ...compression, calibration: { source: 'seeded synthetic statistics (tests/helpers/synthetic-stats.ts)' } },
      audit: { summary: { skipped: 'not run by the golden test (its figures come from onnxruntime)' }, files: {} },
    },
    outDir,
  );
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `sha256  bytes  path` lines, sorted by path: readable in a diff, one line per file. */
function hashList(dir: string, files: string[]): string {
  return files.map((f) => {
    const b = fs.readFileSync(path.join(dir, f));
    return `${sha256(b)}  ${String(b.byteLength).padStart(8)}  ${f}\n`;
  }).join('');
}

/**
 * manifest.json lists every file's sha256, lib/ included. The lib/ entries are replaced by a
 * pointer to lib.sha256, so that a change to splitc's run-time modules fails that one check
 * (where the reviewer decides whether it was meant) instead of every manifest too.
 */
function manifestWithoutLibHashes(text: string): string {
  return text.replace(/("(?:edge|cloud)\/lib\/[^"]+": \{\s*"sha256": )"[0-9a-f]{64}"(,\s*"bytes": )\d+/g, '$1"(see lib.sha256)"$2"(see lib.sha256)"');
}

const cases = goldenCases('bundles');

it('has bundle golden cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

describe.each(cases)('bundle golden %s', (name) => {
  const group = `bundles/${name}`;
  const options = JSON.parse(readCaseFile('bundles', name, 'options.json')) as BundleCase;
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = path.join(tmpDir('splitc-golden-'), 'bundle');
    await buildCase(options, dir);
    files = listFiles(dir);
  });

  it('generated text files match expected/ text-for-text', () => {
    const texts = new Map<string, string>();
    for (const f of files) {
      if (BINARY.test(f) || LIB.test(f)) continue;
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      texts.set(f, f === 'manifest.json' ? manifestWithoutLibHashes(text) : text);
    }
    expectGoldenDir(`${group}/expected`, texts);
  });

  it('models match models.sha256 byte for byte', () => {
    expectGolden(`${group}/models.sha256`, hashList(dir, files.filter((f) => BINARY.test(f) && !LIB.test(f))));
  });

  it("splitc's run-time modules copied into lib/ match lib.sha256", () => {
    // These are splitc's own src/runtime (and what it imports) transpiled: a refactor of those
    // modules changes them on purpose. Update, and check the new text runs (tests/codegen).
    expectGolden(`${group}/lib.sha256`, hashList(dir, files.filter((f) => LIB.test(f))));
  });
});
