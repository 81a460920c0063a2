// The bottleneck as a pass: the same compressed split compressSplit makes, a spec that prints back.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { loadModel } from '../../../src/ir/serde/io.js';
import { printModel } from '../../../src/ir/printer.js';
import { compressSplit, type CompressedSplit } from '../../../src/passes/bottleneck/compress.js';
import { bottleneckPass } from '../../../src/passes/bottleneck/pass.js';
import { parseCompressSpec } from '../../../src/passes/bottleneck/spec.js';
import { cutAfterNode, splitModel, type SplitResult } from '../../../src/passes/cut.js';
import { CHECKED_RUN, PassManager, parsePipeline, printPipeline } from '../../../src/passes/pass.js';
import '../../../src/passes/cut-pass.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import type { Model } from '../../../src/ir/graph.js';
import { codeOf } from '../../helpers/codes.js';
import { fixturesDir } from '../../helpers/fixtures.js';

const file = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');
const inferred = (): Model => {
  const m = loadModel(file);
  inferShapes(m, { inputShapes: {} });
  return m;
};

describe('bottleneck pass', () => {
  it('inserts what compressSplit inserts, leaving the split it was given alone', () => {
    const m = inferred();
    const split = splitModel(m, cutAfterNode(m, 'Add_23'));
    const direct = compressSplit(split, parseCompressSpec('fp16'));
    const viaText = new PassManager<Model, CompressedSplit>(parsePipeline('shape-infer,cut{after=Add_23},bottleneck{spec=fp16}'), CHECKED_RUN).run(inferred()).model;
    expect(printModel(viaText.edge)).toBe(printModel(direct.edge));
    expect(printModel(viaText.cloud)).toBe(printModel(direct.cloud));
    expect(viaText.wire).toEqual(direct.wire);
    const viaObject = new PassManager<SplitResult, CompressedSplit>([bottleneckPass(parseCompressSpec('fp16'))], CHECKED_RUN).run(split).model;
    expect(printModel(viaObject.edge)).toBe(printModel(direct.edge));
  });

  it('prints its spec back, and needs statistics for specs that use them', () => {
    const text = 'shape-infer,cut{after=Add_23},bottleneck{spec=pca=8+int8}';
    expect(printPipeline(parsePipeline(text))).toBe(text);
    expect(codeOf(() => new PassManager(parsePipeline(text)).run(inferred()))).toBe('E_COMPRESS');
    expect(codeOf(() => parsePipeline('bottleneck{bits=8}'))).toBe('E_BAD_ARGUMENT');
  });
});
