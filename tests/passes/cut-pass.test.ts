// The cut as a pass: the same split splitModel makes, options that print back, coded errors.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { loadModel } from '../../src/ir/serde/io.js';
import { printModel } from '../../src/ir/printer.js';
import { cutAfterNode, splitModel, type SplitResult } from '../../src/passes/cut.js';
import { cutPass, cutUnderManager } from '../../src/passes/cut-pass.js';
import { CHECKED_RUN, PassManager, parsePipeline, passFailureOf, printPipeline } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import type { Model } from '../../src/ir/graph.js';
import { codeOf } from '../helpers/codes.js';
import { fixturesDir } from '../helpers/fixtures.js';

const file = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');
const inferred = (): Model => {
  const m = loadModel(file);
  inferShapes(m, { inputShapes: {} });
  return m;
};
const same = (a: SplitResult, b: SplitResult): void => {
  expect(printModel(a.edge)).toBe(printModel(b.edge));
  expect(printModel(a.cloud)).toBe(printModel(b.cloud));
  expect(a.cutTensors).toEqual(b.cutTensors);
};

describe('cut pass', () => {
  it('makes the split splitModel makes, by tensors or after a node', () => {
    const m = inferred();
    const direct = splitModel(m, cutAfterNode(m, 'Add_23'));
    same(new PassManager<Model, SplitResult>(parsePipeline('shape-infer,cut{after=Add_23}'), CHECKED_RUN).run(inferred()).model, direct);
    same(cutUnderManager(inferred(), direct.cutTensors), direct);
  });

  it('prints its options back', () => {
    const text = 'cut{at=relu_12+add_22}';
    expect(printPipeline(parsePipeline(text))).toBe(text);
    expect(printPipeline([cutPass({ after: 'Add_23' })])).toBe('cut{after=Add_23}');
  });

  it('rejects options it does not take, and unknown tensors with E_CUT and the pipeline', () => {
    expect(codeOf(() => parsePipeline('cut'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => parsePipeline('cut{at=a;after=b}'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => parsePipeline('cut{where=a}'))).toBe('E_BAD_ARGUMENT');
    try {
      cutUnderManager(loadModel(file), ['nope']);
      expect.unreachable();
    } catch (e) {
      expect(codeOf(() => { throw e; })).toBe('E_CUT');
      expect(passFailureOf(e)).toEqual({ pass: 'cut', pipeline: 'cut{at=nope}' });
    }
  });
});
