import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { describeFailures, gradCheck, differentiateError } from './gradcheck.js';

describe('autodiff core', () => {
  it('differentiates a broadcast Add/Mul/Relu chain in float64', async () => {
    const r = await gradCheck({
      build(b, dt) {
        const x = b.input('x', dt, [2, 3, 4]);
        const w = b.input('w', dt, [3, 1]);
        const z = b.input('z', dt, [4]);
        const m = b.op('Mul', [x, w]);
        const a = b.op('Add', [m, z]);
        const r1 = b.op('Relu', [a]);
        return b.op('Mul', [r1, x]); // x used twice: gradients add up
      },
      inputs: { x: { dims: [2, 3, 4] }, w: { dims: [3, 1] }, z: { dims: [4] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    expect(r.checks.length).toBe(9);
    expect(Math.abs(r.checks[0]!.analytic)).toBeGreaterThan(1e-3);
    expect(r.autodiff.grads.size).toBe(3);
    void DataType;
  });

  it('reduces with ReduceSum (keepdims 0) and seeds from a scalar loss', async () => {
    const r = await gradCheck({
      build(b) {
        const x = b.input('x', DataType.DOUBLE, [3, 5]);
        const s = b.op('ReduceSum', [x, b.init('ax', DataType.INT64, [1], [1])], { keepdims: 0 });
        return b.op('Mul', [s, s]);
      },
      inputs: { x: { dims: [3, 5] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
  });

  it('an op of another domain is named before the opset raise (a model that imports no standard opset)', () => {
    // As the ONNX corpus's preview-training models are: only 'ai.onnx.preview.training' is imported.
    const b = new GraphBuilder('other-domain');
    const x = b.input('x', DataType.FLOAT, [3]);
    const y = b.op('Adagrad', [x], {}, { name: 'step', domain: 'ai.onnx.preview.training' });
    b.output(y, { dtype: DataType.FLOAT, shape: [] });
    const m = b.model({ extraOpsets: [['ai.onnx.preview.training', 1]] });
    m.opsetImports.delete('');
    const err = differentiateError(m, { wrt: ['x'], loss: y.name });
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toContain('ai.onnx.preview.training::Adagrad');
    expect(err.message).toContain('step');
  });
});
