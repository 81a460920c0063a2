// Pass goldens (Rollup-style folders): each tests/golden/passes/<case>/ holds input.txt (a
// model file, repo-relative, or `builder:<name>` from tests/helpers/golden-models.ts),
// pipeline.txt (the passes as text, see tests/helpers/golden-pipeline.ts) and the expected
// printed IR before.txt and after.txt. `npm run golden:update` rewrites the expectations;
// the diff is what a reviewer reads.

import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { registeredPasses } from '../../src/passes/pass.js';
import { repoRoot } from '../helpers/fixtures.js';
import { expectGolden } from '../helpers/golden.js';
import { goldenCases, readCaseFile } from '../helpers/golden-dir.js';
import { GOLDEN_MODELS } from '../helpers/golden-models.js';
import { FUNCTION_STEPS, pipelineSteps, printState, runGoldenPipeline } from '../helpers/golden-pipeline.js';
import '../../src/passes/all.js'; // every pass registered

function loadInput(spec: string): Model {
  if (spec.startsWith('builder:')) {
    const make = GOLDEN_MODELS[spec.slice('builder:'.length)];
    if (!make) throw new Error(`no golden model '${spec}' in tests/helpers/golden-models.ts`);
    return make();
  }
  return loadModel(path.join(repoRoot, spec));
}

const cases = goldenCases('passes');
const caseFile = (name: string, file: string): string => readCaseFile('passes', name, file).trim();

describe.each(cases)('pass golden %s', (name) => {
  it('prints the input and the IR after the pipeline as expected', () => {
    const input = caseFile(name, 'input.txt');
    const pipeline = caseFile(name, 'pipeline.txt');
    const model = loadInput(input);
    expectGolden(`passes/${name}/before.txt`, printState({ parts: [{ label: 'model', model }], notes: [] }));
    const after = runGoldenPipeline(model, pipeline);
    expectGolden(`passes/${name}/after.txt`, `pipeline: ${pipeline}\n\n${printState(after)}`);
  });
});

it('covers every registered pass and every function step', () => {
  const used = new Set(cases.flatMap((c) => pipelineSteps(caseFile(c, 'pipeline.txt')).map((s) => s.name)));
  const wanted = [...registeredPasses(), ...Object.keys(FUNCTION_STEPS)];
  expect(wanted.filter((p) => !used.has(p))).toEqual([]);
});
