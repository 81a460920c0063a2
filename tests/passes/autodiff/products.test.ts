// Gradient rules for matrix products (Gemm, MatMul, Einsum), checked against central finite
// differences in float64 (onnxruntime CPU runs these ops and every op their gradients emit in
// double), on seeded random shapes and attribute combinations.

import { describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { differentiate } from '../../../src/passes/autodiff/index.js';
import { describeFailures, gradCheck } from './gradcheck.js';
import { close, expectGrads, run, seededDraws, sumLossModel, thrown } from './rule-checks.js';

const { int } = seededDraws(20240611);

describe('Gemm', () => {
  const cForms: [string, (m: number, n: number) => number[] | null][] = [
    ['no C', () => null],
    ['scalar C', () => []],
    ['C [1]', () => [1]],
    ['C [N]', (_m, n) => [n]],
    ['C [1,N]', (_m, n) => [1, n]],
    ['C [M,1]', (m) => [m, 1]],
    ['C [M,N]', (m, n) => [m, n]],
  ];
  for (const transA of [0, 1]) {
    for (const transB of [0, 1]) {
      it(`transA=${transA} transB=${transB}, alpha/beta ≠ 1, every C broadcast`, async () => {
        for (const [, cDims] of cForms) {
          const [M, K, N] = [int(2, 4), int(2, 4), int(2, 5)];
          const aDims = transA ? [K, M] : [M, K];
          const bDims = transB ? [N, K] : [K, N];
          const cd = cDims(M, N);
          await expectGrads({
            build(b, dt) {
              const A = b.input('A', dt, aDims);
              const B = b.input('B', dt, bDims);
              const C = cd ? b.input('C', dt, cd) : null;
              return b.op('Gemm', C ? [A, B, C] : [A, B], { transA, transB, alpha: attr.float('alpha', 0.7), beta: attr.float('beta', -1.3) });
            },
            inputs: { A: { dims: aDims }, B: { dims: bDims }, ...(cd ? { C: { dims: cd } } : {}) },
          });
        }
      });
    }
  }

  it('with default alpha and beta, at opset 13', async () => {
    await expectGrads({
      build: (b, dt) => b.op('Gemm', [b.input('A', dt, [3, 2]), b.input('B', dt, [2, 4]), b.input('C', dt, [4])]),
      inputs: { A: { dims: [3, 2] }, B: { dims: [2, 4] }, C: { dims: [4] } },
      opset: 13,
    });
  });
});

describe('MatMul', () => {
  const cases: [string, number[], number[]][] = [
    ['1-D × 1-D', [4], [4]],
    ['1-D × 2-D', [3], [3, 4]],
    ['2-D × 1-D', [2, 3], [3]],
    ['2-D × 2-D', [2, 3], [3, 4]],
    ['linear layer: 3-D × 2-D', [2, 3, 4], [4, 5]],
    ['4-D × 2-D', [2, 2, 3, 4], [4, 2]],
    ['2-D × batched 3-D', [2, 3], [4, 3, 2]],
    ['1-D × batched 3-D', [3], [2, 3, 4]],
    ['batched 3-D × 1-D', [2, 4, 3], [3]],
    ['equal batch dims', [2, 3, 4], [2, 4, 3]],
    ['broadcast batch dims [2,1] × [3]', [2, 1, 3, 4], [3, 4, 2]],
    ['broadcast batch dims [1,3] × [2,1]', [1, 3, 2, 4], [2, 1, 4, 3]],
    ['batch dim 1 × batch dim 3', [1, 2, 3], [3, 3, 2]],
  ];
  for (const [name, aDims, bDims] of cases) {
    it(name, async () => {
      await expectGrads({
        build: (b, dt) => b.op('MatMul', [b.input('A', dt, aDims), b.input('B', dt, bDims)]),
        inputs: { A: { dims: aDims }, B: { dims: bDims } },
      });
    });
  }

  it('the linear-layer form computes the weight gradient with one Gemm', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('MatMul', [b.input('A', dt, [2, 3, 4]), b.input('W', dt, [4, 5])]),
      inputs: { A: { dims: [2, 3, 4] }, W: { dims: [4, 5] } },
      wrt: ['W'],
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = r.gradModel.graph.nodes.toArray().map((n) => n.opType);
    expect(ops).toContain('Gemm');
    expect(ops.filter((o) => o === 'MatMul').length).toBe(1); // the forward one
  });
});


describe('Einsum', () => {
  /** Operand dims for `equation`: a random size in [2, 4] per label, `ell` for each '...'. */
  function dimsFor(equation: string, ell: number[][] = []): number[][] {
    const size = new Map<string, number>();
    const lhs = equation.replace(/\s+/g, '').split('->')[0]!;
    return lhs.split(',').map((term, i) => {
      const [before, after] = term.includes('...') ? term.split('...') : [term, null];
      const dimsOf = (s: string): number[] => [...s].map((l) => size.get(l) ?? (size.set(l, int(2, 4)), size.get(l)!));
      return after === null ? dimsOf(before!) : [...dimsOf(before!), ...ell[i]!, ...dimsOf(after)];
    });
  }

  async function checkEinsum(equation: string, dims: number[][]): Promise<void> {
    const names = dims.map((_, i) => `x${i}`);
    await expectGrads({
      build: (b, dt) => b.op('Einsum', names.map((nm, i) => b.input(nm, dt, dims[i]!)), { equation }),
      inputs: Object.fromEntries(names.map((nm, i) => [nm, { dims: dims[i]! }])),
    });
  }

  const plain = [
    'ij,jk->ik', // matmul
    'bij,bjk->bik', // batched matmul
    'ij->', // sum of everything
    'ij->ji', // transpose
    'ij,jk,kl->il', // three operands
    'i,j->ij', // outer product
    'bn,anm,bm->ba', // bilinear
    'ij,jk', // implicit output (ik)
    'ij,k->i', // j and k summed away, each in one operand only
    'i,i->', // inner product
    'ij->j', // column sums
    'iJ,Jk->ki', // upper-case labels
    'ij, jk -> ik', // spaces
    ',ij->ji', // a scalar operand
    'ijk->kij',
  ];
  for (const equation of plain) {
    it(`'${equation}'`, async () => {
      await checkEinsum(equation, dimsFor(equation));
    });
  }

  const diagonals = [
    'ii->i', // diagonal
    'ii', // trace (implicit)
    'ii->', // trace
    'iii->i',
    'jii->ij',
    'ii,ij->j', // a diagonal in one operand of two
    'bii->bi',
    'iij,jk->ik',
  ];
  for (const equation of diagonals) {
    it(`repeated labels: '${equation}'`, async () => {
      await checkEinsum(equation, dimsFor(equation));
    });
  }

  const ellipses: [string, number[][]][] = [
    ['...ij,...jk->...ik', [[2], [2]]],
    ['...ij,...jk', [[2, 3], [2, 3]]], // implicit: ellipsis dims first
    ['...ij,...jk->...ik', [[1], [3]]], // a broadcast ellipsis dim
    ['...ij,...jk->...ik', [[2, 1], [1, 3]]],
    ['i...j,j->i...', [[3, 2], []]],
    ['...ii->...i', [[2]]], // batch diagonal
    ['...i,...i->...', [[2, 3], [1, 3]]],
    ['...i->i...', [[2, 3]]],
  ];
  for (const [equation, ell] of ellipses) {
    it(`ellipsis: '${equation}' with ellipsis dims ${JSON.stringify(ell)}`, async () => {
      await checkEinsum(equation, dimsFor(equation, ell));
    });
  }

  it('a lettered dim of size 1 broadcast against a larger one', async () => {
    await checkEinsum('ij,ij->ij', [[1, 3], [2, 3]]);
    await checkEinsum('ij,jk->ik', [[2, 1], [4, 3]]);
  });

  it('with dynamic dims: the identity of a diagonal and the Expand of a summed-away label are sized at run time', async () => {
    const diag = sumLossModel((b) => b.op('Einsum', [b.input('x', DataType.DOUBLE, ['n', 'n'])], { equation: 'ii->i' }), ['x']);
    close((await run(diag, { x: { dims: [3, 3], data: Array.from({ length: 9 }, (_, i) => i) } }))['grad:x']!, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    // Σ_ijk x_ij·w_k: each x_ij gets Σw, each w_k gets Σx.
    const m = sumLossModel((b) => b.op('Einsum', [b.input('x', DataType.DOUBLE, ['n', 'm']), b.input('w', DataType.DOUBLE, ['p'])], { equation: 'ij,k->i' }), ['x', 'w']);
    const out = await run(m, { x: { dims: [2, 3], data: [1, 2, 3, 4, 5, 6] }, w: { dims: [4], data: [0.5, -1, 2, 0.25] } });
    close(out['grad:x']!, new Array(6).fill(1.75));
    close(out['grad:w']!, new Array(4).fill(21));
  });

  it('the same value as two operands gets both contributions', async () => {
    const r = await gradCheck({
      build(b, dt) {
        const x = b.input('x', dt, [3, 4]);
        return b.op('Einsum', [x, x], { equation: 'ij,ik->jk' });
      },
      inputs: { x: { dims: [3, 4] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
  });

  it('emits one Einsum per operand, with the rearranged equations', async () => {
    const r = await gradCheck({
      build: (b, dt) => b.op('Einsum', [b.input('a', dt, [2, 3]), b.input('b', dt, [3, 4])], { equation: 'ij,jk->ik' }),
      inputs: { a: { dims: [2, 3] }, b: { dims: [3, 4] } },
    });
    expect(r.ok, describeFailures(r)).toBe(true);
    const ops = r.gradModel.graph.nodes.toArray().map((n) => n.opType);
    expect(ops.filter((o) => o === 'Einsum').length).toBe(3);
    const equations = r.gradModel.graph.nodes
      .toArray()
      .filter((n) => n.opType === 'Einsum')
      .map((n) => n.attrString('equation'));
    expect(equations).toEqual(['ij,jk->ik', 'ik,jk->ij', 'ik,ij->jk']);
  });

  it('an implicit equation with upper-case output labels is an E_AUTODIFF error', () => {
    const b = new GraphBuilder('t');
    b.op('Einsum', [b.input('x', DataType.DOUBLE, [2, 3])], { equation: 'iJ' }, { outputNames: ['y'] });
    b.output(b.graph.valuesByName().get('y')!);
    const err = thrown(() => differentiate(b.model({ opset: 17 }), { wrt: ['x'], seeds: { y: 'dy' } }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/upper-case output labels/);
  });

  it('an ellipsis operand of unknown rank is an E_AUTODIFF error naming the equation', () => {
    const b = new GraphBuilder('t');
    b.op('Einsum', [b.input('x', DataType.DOUBLE, null), b.input('w', DataType.DOUBLE, [3])], { equation: '...i,i->...' }, { outputNames: ['y'] });
    b.output(b.graph.valuesByName().get('y')!);
    const err = thrown(() => differentiate(b.model({ opset: 17 }), { wrt: ['x', 'w'], seeds: { y: 'dy' } }));
    expect(err.code).toBe('E_AUTODIFF');
    expect(err.message).toMatch(/'\.\.\.i,i->\.\.\.'/);
  });
});

// onnxruntime's MeanVarianceNormalization kernel is float-only (and it runs no function body
// for double), so these checks are float32. Slices of a few random elements can have a small
// σ, where the curvature is large: a step of 2e-3 keeps the O(h²) truncation small, and the
// float32 rounding of the loss (~1e-6 absolute, divided by 2h) stays below atol 2e-3 /
// rtol 2e-3, ten times tighter than the float32 defaults. (Against float64 differences of
// the formula the gradient agrees to ~4e-5.)
