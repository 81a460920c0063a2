// Loss and autodiff as passes: the gradient graph differentiate builds, options that print back.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { loadModel } from '../../../src/ir/serde/io.js';
import { printModel } from '../../../src/ir/printer.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { buildLoss } from '../../../src/passes/autodiff/losses.js';
import { autodiffPass, lossPass } from '../../../src/passes/autodiff/pass.js';
import { CHECKED_RUN, PassManager, parsePipeline, printPipeline } from '../../../src/passes/pass.js';
import { codeOf } from '../../helpers/codes.js';
import { fixturesDir } from '../../helpers/fixtures.js';

const file = path.join(fixturesDir, 'fashion_mnist_resnet.onnx');
const inputShapes = { image: [2, 1, 28, 28] };

describe('loss and autodiff passes', () => {
  it('build the gradient graph differentiate builds, and keep what they built', () => {
    const direct = loadModel(file);
    const built = buildLoss(direct, 'ce');
    built.loss.name = 'loss';
    direct.graph.outputs.push(built.loss);
    const r = differentiate(direct, { wrt: ['image'], loss: 'loss', inputShapes });

    const loss = lossPass({ spec: 'ce' });
    const diff = autodiffPass({ wrt: ['image'], inputShapes });
    const m = loadModel(file);
    expect(new PassManager([loss, diff], CHECKED_RUN).run(m).model).toBe(m);
    expect(printModel(m)).toBe(printModel(direct));
    expect(loss.built!.loss.name).toBe('loss');
    expect([...diff.result!.grads.keys()]).toEqual([...r.grads.keys()]);
  });

  it('print their options back and replay from text', () => {
    const text = 'loss{spec=ce+1e-4*l2;params=stem.conv.weight},autodiff{wrt=image+stem.conv.weight;shape=image:2x1x28x28;feed-params=true}';
    expect(printPipeline(parsePipeline(text))).toBe(text);
    const m = loadModel(file);
    new PassManager(parsePipeline(text), CHECKED_RUN).run(m);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['logits', 'loss', 'grad:image', 'grad:stem.conv.weight']);
  });

  it('reject options they do not take', () => {
    expect(codeOf(() => parsePipeline('loss{spec=ce;x=1}'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => parsePipeline('autodiff{wrt=image;mode=fwd}'))).toBe('E_BAD_ARGUMENT');
  });
});
