// Gradient rules for matrix products: Gemm, MatMul (batched, broadcasting) and Einsum.

import { attr } from '../../../ir/builder.js';
import type { Dim, Value } from '../../../ir/graph.js';
import { EINSUM_LETTERS, type EinsumTerm, parseEinsum } from '../../einsum-equation.js';
import { type GradBuilder, infoOf } from '../builder.js';
import type { GradContext, GradRuleTable } from '../rule.js';
import { identityOfAxis, dtypeOf, expandTo } from './util.js';

export const PRODUCT_RULES: GradRuleTable = {
  Gemm: { grad: gemmGrad },
  MatMul: { grad: matmulGrad },
  Einsum: { grad: einsumGrad },
};

/** Y = alpha·A'·B' + beta·C with A' = Aᵀ when transA, B' = Bᵀ when transB; C broadcasts to [M, N]. */
function gemmGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const A = c.x(0);
  const B = c.x(1);
  const Y = c.y(0);
  const dy = c.dyOrZeros(0);
  const tA = n.attrInt('transA', 0) !== 0;
  const tB = n.attrInt('transB', 0) !== 0;
  const alpha = n.attrFloat('alpha', 1);
  const beta = n.attrFloat('beta', 1);
  const gemm = (p: Value, q: Value, transA: boolean, transB: boolean, like: Value): Value =>
    b.op('Gemm', [p, q], { transA: transA ? 1 : 0, transB: transB ? 1 : 0, ...(alpha !== 1 ? { alpha: attr.float('alpha', alpha) } : {}) }, infoOf(like));
  // dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY; a transposed operand gets the transpose of its gradient.
  if (c.wants(0)) c.setGrad(0, tA ? gemm(B, dy, tB, true, A) : gemm(dy, B, false, !tB, A));
  if (c.wants(1)) c.setGrad(1, tB ? gemm(dy, A, true, tA, B) : gemm(A, dy, !tA, false, B));
  const C = c.xOpt(2);
  if (C && c.wants(2)) {
    let dc = b.sumToShape(dy, C, Y);
    if (beta !== 1) dc = b.mul(dc, b.scalar(beta, dtypeOf(C)), C);
    c.setGrad(2, dc);
  }
}

/**
 * numpy matmul: A [..., M, K] × B [..., K, N] with broadcast batch dims; a 1-D A is [1, K]
 * and a 1-D B is [K, 1], their unit dim dropped from Y. The gradients are computed on the
 * 2-D forms with Y's batch dims, then summed back to each operand's shape.
 */
function matmulGrad(c: GradContext): void {
  const b = c.b;
  const A = c.x(0);
  const B = c.x(1);
  const Y = c.y(0);
  const as = A.shape;
  const bs = B.shape;
  const ys = Y.shape;
  if (!as || !bs || !ys) throw c.fail('the ranks of its operands are unknown', 'give the input shapes (--shape)');
  const a1 = as.length === 1;
  const b1 = bs.length === 1;
  const a2s: Dim[] = a1 ? [1, as[0]!] : as;
  const b2s: Dim[] = b1 ? [bs[0]!, 1] : bs;
  const batch = ys.slice(0, ys.length - (a1 ? 0 : 1) - (b1 ? 0 : 1));
  const M = a2s[a2s.length - 2]!;
  const K = a2s[a2s.length - 1]!;
  const N = b2s[b2s.length - 1]!;
  const r = batch.length + 2;
  const dt = dtypeOf(Y);

  // dY with the M / N dims a 1-D operand dropped put back: [...batch, M, N].
  let dy = c.dyOrZeros(0);
  const unsq = [...(a1 ? [r - 2] : []), ...(b1 ? [r - 1] : [])];
  if (unsq.length) dy = b.unsqueeze(dy, unsq, { dtype: dt, shape: [...batch, M, N] });

  if (c.wants(0)) {
    // dA = dY·Bᵀ, [...batch, M, K]
    const bT = b1 ? b.unsqueeze(B, [0], { dtype: dt, shape: [1, bs[0]!] }) : b.transpose(B, swapLast(bs.length));
    const ga = b.op('MatMul', [dy, bT], {}, { dtype: dt, shape: [...batch, M, K] });
    c.setGrad(0, sumToOperand(b, ga, [...batch, M, K], a2s, A));
  }
  if (c.wants(1)) {
    const dB = (): Value => {
      // A linear layer (B 2-D, A with its own batch dims): one Gemm over the flattened
      // batch, dB = flat(A)ᵀ·flat(dY), instead of a batched product summed afterwards.
      if (!a1 && !b1 && bs.length === 2 && as.length >= 3) {
        const fa = b.op('Flatten', [A], { axis: as.length - 1 }, { dtype: dt, shape: [null, K] });
        const fdy = b.op('Flatten', [dy], { axis: as.length - 1 }, { dtype: dt, shape: [null, N] });
        return b.op('Gemm', [fa, fdy], { transA: 1 }, infoOf(B));
      }
      // dB = Aᵀ·dY, [...batch, K, N]
      const aT = a1 ? b.unsqueeze(A, [1], { dtype: dt, shape: [as[0]!, 1] }) : b.transpose(A, swapLast(as.length));
      const gb = b.op('MatMul', [aT, dy], {}, { dtype: dt, shape: [...batch, K, N] });
      return sumToOperand(b, gb, [...batch, K, N], b2s, B);
    };
    c.setGrad(1, dB());
  }
}

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/**
 * Sum `g` (shape `gs`) over the batch dims the operand (2-D form `xs`) lacks or broadcast
 * from 1, then reshape to the operand `x` itself (which drops the unit dim of a 1-D operand).
 */
function sumToOperand(b: GradBuilder, g: Value, gs: Dim[], xs: Dim[], x: Value): Value {
  const lead = gs.length - xs.length;
  const axes: number[] = [];
  for (let i = 0; i < lead; i++) axes.push(i);
  for (let i = 0; i < xs.length - 2; i++) if (xs[i] === 1 && gs[i + lead] !== 1) axes.push(i + lead);
  let out = g;
  if (axes.length) out = b.reduceSum(g, axes, true, { dtype: g.dtype });
  if (lead > 0 || xs.length !== x.shape?.length) out = b.reshapeLike(out, x);
  return out;
}

// ---------------------------------------------------------------- einsum

/**
 * Einsum: the gradient of operand k is an einsum of dY with the other operands whose output
 * is operand k's term. The equation is first made explicit, with no ellipsis and no
 * broadcasting, so every gradient equation is plain:
 *  - '...' becomes fresh letters, right-aligned (numpy broadcasting of the ellipsis dims);
 *  - an occurrence of size 1 of a label that is not 1 elsewhere (a dim broadcast from 1)
 *    gets a private letter of its own: it is summed over a size-1 axis in the forward, the
 *    same product, and in the gradient it is a label of operand k only (below);
 *  - an implicit output is the ellipsis dims, then the labels seen once, sorted.
 * Then, for operand k:
 *  - a label repeated in its term (a diagonal, 'ii->i') keeps its first occurrence; each
 *    later one gets a fresh letter j and an identity matrix operand 'ij' (EyeLike), so the
 *    gradient lands on the diagonal only;
 *  - labels of operand k that no other term has (summed away in the forward, or private)
 *    cannot be einsum outputs: they are left out, then Unsqueezed and Expanded back, since
 *    the forward sum spreads dY equally over them.
 * Dims not known statically are assumed not to be broadcast from 1 (onnxruntime allows
 * that for labels; the ONNX spec only for '...').
 */
function einsumGrad(c: GradContext): void {
  const b = c.b;
  const n = c.node;
  const equation = n.attrString('equation', '');
  const { text: eq, inputs: inputTerms, output: outputTerm } = parseEinsum(equation, (m) => {
    throw c.fail(`its ${m}`);
  });
  if (inputTerms.length !== n.inputs.length) throw c.fail(`its equation '${equation}' has ${inputTerms.length} operands but the node has ${n.inputs.length} inputs`);
  const operands = inputTerms.map((_, i) => c.x(i));

  const used = new Set(eq.replace(/[^a-zA-Z]/g, ''));
  const freshLetter = (taken: Set<string>): string => {
    const l = [...EINSUM_LETTERS].find((ch) => !taken.has(ch));
    if (l === undefined) throw c.fail(`its equation '${equation}' leaves no free letters for the gradient equations (52 at most)`, 'use fewer distinct labels and ellipsis dims');
    taken.add(l);
    return l;
  };

  // '...' → letters, right-aligned over the longest ellipsis.
  const ellRanks = inputTerms.map((t, i) => {
    if (t.ellipsis < 0) return 0;
    const rank = operands[i]!.shape?.length;
    if (rank === undefined) throw c.fail(`the rank of operand ${i} ('${operands[i]!.name}') is unknown and its term in '${equation}' has '...'`, 'give the input shapes (--shape)');
    if (rank < t.labels.length) throw c.fail(`operand ${i} ('${operands[i]!.name}') has rank ${rank}, fewer than the labels of its term in '${equation}'`);
    return rank - t.labels.length;
  });
  const ellLetters = Array.from({ length: Math.max(0, ...ellRanks) }, () => freshLetter(used));
  const expand = (t: EinsumTerm, ellRank: number): string[] =>
    t.ellipsis < 0 ? [...t.labels] : [...t.labels.slice(0, t.ellipsis), ...ellLetters.slice(ellLetters.length - ellRank), ...t.labels.slice(t.ellipsis)];
  const terms = inputTerms.map((t, i) => expand(t, ellRanks[i]!));
  terms.forEach((t, i) => {
    const rank = operands[i]!.shape?.length;
    if (rank !== undefined && rank !== t.length) throw c.fail(`operand ${i} ('${operands[i]!.name}') has rank ${rank} but its term in '${equation}' has ${t.length} labels`);
  });

  let outLabels: string[];
  if (outputTerm) {
    outLabels = expand(outputTerm, ellLetters.length);
  } else {
    const counts = new Map<string, number>();
    for (const t of inputTerms) for (const l of t.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts].filter(([, k]) => k === 1).map(([l]) => l);
    if (once.some((l) => l >= 'A' && l <= 'Z')) {
      // numpy and the ONNX reference sort upper case first; onnxruntime rejects it.
      throw c.fail(`its implicit equation '${equation}' has upper-case output labels, whose order runtimes disagree on`, "write the output explicitly ('->')");
    }
    outLabels = [...ellLetters, ...once.sort()];
  }

  // Size-1 occurrences of a label that is not 1 everywhere: private letters.
  const occurrences = new Map<string, { term: number; pos: number; dim: Dim | undefined }[]>();
  terms.forEach((t, i) =>
    t.forEach((l, pos) => {
      const list = occurrences.get(l) ?? [];
      list.push({ term: i, pos, dim: operands[i]!.shape?.[pos] });
      occurrences.set(l, list);
    }),
  );
  for (const list of occurrences.values()) {
    if (!list.some((o) => o.dim === 1) || list.every((o) => o.dim === 1)) continue;
    for (const o of list) if (o.dim === 1) terms[o.term]![o.pos] = freshLetter(used);
  }

  const dy = c.dyOrZeros(0);
  const dt = dtypeOf(c.y(0));
  for (let k = 0; k < operands.length; k++) {
    if (!c.wants(k)) continue;
    const x = operands[k]!;
    const taken = new Set(used);
    // Later occurrences of a repeated label: fresh letters tied to the first by an identity.
    const target: string[] = [];
    const eyes: { label: string; twin: string; pos: number }[] = [];
    const first = new Map<string, number>();
    terms[k]!.forEach((l, pos) => {
      const p = first.get(l);
      if (p === undefined) {
        first.set(l, pos);
        target.push(l);
      } else {
        const twin = freshLetter(taken);
        target.push(twin);
        eyes.push({ label: l, twin, pos: p });
      }
    });
    const gradTerms = [outLabels, ...terms.filter((_, i) => i !== k), ...eyes.map((e) => [e.label, e.twin])];
    const gradInputs = [dy, ...operands.filter((_, i) => i !== k), ...eyes.map((e) => identityOfAxis(b, x, e.pos, dt))];
    const present = new Set(gradTerms.flat());
    const kept = target.filter((l) => present.has(l));
    const missing = target.flatMap((l, pos) => (present.has(l) ? [] : [pos]));
    const xs = x.shape;
    const keptShape = xs ? xs.filter((_, pos) => !missing.includes(pos)) : null;
    let g = dy;
    if (gradInputs.length > 1 || kept.join('') !== outLabels.join('')) {
      const gradEquation = `${gradTerms.map((t) => t.join('')).join(',')}->${kept.join('')}`;
      g = b.op('Einsum', gradInputs, { equation: gradEquation }, { dtype: dt, shape: keptShape });
    }
    if (missing.length) {
      g = b.unsqueeze(g, missing, { dtype: dt, shape: xs ? xs.map((d, pos) => (missing.includes(pos) ? 1 : d)) : null });
      g = expandTo(b, g, x);
    }
    c.setGrad(k, g);
  }
}
