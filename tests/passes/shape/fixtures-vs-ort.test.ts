// Acceptance test: on the real PaddleOCR models, every inferred shape and dtype equals
// what onnxruntime produces, and every folded value equals onnxruntime's data.

import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { PassContext } from '../../../src/passes/pass.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { fixtures } from '../../helpers/fixtures.js';
import { compareWithOrt } from './ort-probe.js';

describe('shape inference agrees with onnxruntime on the fixtures', () => {
  for (const f of fixtures()) {
    it(`${f.file} with ${JSON.stringify(f.inputShapes)}`, async () => {
      const model = loadModel(f.path);
      const ctx = new PassContext();
      inferShapes(model, { inputShapes: f.inputShapes, ctx });
      assertValid(model);
      expect(ctx.diagnostics.filter((d) => d.code === 'W_SHAPE_RULE_FAILED')).toEqual([]);
      expect(ctx.diagnostics.filter((d) => d.level === 'warning')).toEqual([]);
      const r = await compareWithOrt(model, f.inputShapes);
      console.log(`shape coverage ${f.file}: ${r.staticValues}/${r.values} values`);
      console.log(`folded values checked against onnxruntime ${f.file}: ${r.foldedChecked}`);
      expect(r.problems).toEqual([]);
      expect(r.staticValues).toBe(r.values);
    });
  }

  for (const f of fixtures()) {
    it(`${f.file} without input shapes: every dim inferred over the file's symbols is right`, async () => {
      const model = loadModel(f.path);
      const ctx = new PassContext();
      const r0 = inferShapes(model, { ctx });
      assertValid(model);
      expect(ctx.diagnostics.filter((d) => d.level === 'warning')).toEqual([]);
      // bind the declared input symbols to the run's sizes
      const x = model.graph.inputs[0]!;
      const bind: Record<string, number> = {};
      x.shape!.forEach((d, i) => {
        if (typeof d === 'string') bind[d] = f.inputShapes[x.name]![i]!;
      });
      const r = await compareWithOrt(model, f.inputShapes, bind, { allowUnknown: true });
      console.log(`symbolic-input coverage ${f.file}: ${r0.coverage.staticValues}/${r0.coverage.values} values static`);
      expect(r.problems).toEqual([]);
    });
  }

  it('keeps a symbolic batch N through the classifier, consistent with onnxruntime at N=3', async () => {
    const f = fixtures().find((x) => x.file.includes('cls'))!;
    const model = loadModel(f.path);
    const ctx = new PassContext();
    inferShapes(model, { inputShapes: { x: ['N', 3, 48, 192] }, ctx });
    assertValid(model);
    expect(ctx.diagnostics.filter((d) => d.level === 'warning')).toEqual([]);
    expect(model.graph.outputs[0]!.shape).toEqual(['N', 2]);
    // every value is either static or symbolic in N: nothing is unknown
    const unknown: string[] = [];
    let symbolic = 0;
    for (const n of model.graph.nodes) {
      for (const o of n.outputs) {
        const s = o.shape;
        if (!s || s.some((d) => d === null)) unknown.push(`${o.name} (${n.opType})`);
        else if (s.some((d) => typeof d === 'string')) symbolic++;
      }
    }
    expect(unknown).toEqual([]);
    expect(symbolic).toBeGreaterThan(100);
    const conv = [...model.graph.nodes].filter((n) => n.opType === 'Conv');
    expect(conv.every((n) => n.outputs[0]!.shape![0] === 'N')).toBe(true);
    const r = await compareWithOrt(model, { x: [3, 3, 48, 192] }, { N: 3 });
    console.log(`batch-N coverage ${f.file}: ${r.values - unknown.length}/${r.values} values known, ${symbolic} symbolic in N`);
    expect(r.problems).toEqual([]);
  });
});
