// Control flow: If (both branches inferred, outputs unified unless the condition is
// known), Loop (loop-carried types iterated to a fixed point) and Scan (opset 8 and 9+).

import { DataType } from '../../../ir/dtype.js';
import type { Dim, Shape } from '../../../ir/graph.js';
import type { OutType, RuleContext, ShapeRule } from '../context.js';
import { normAxis, unifyShapes } from '../dims.js';
import { out } from './util.js';

function typeOf(c: RuleContext, i: number): OutType | null {
  const t = c.type(i);
  return t ? { dtype: t.dtype, shape: t.shape ? [...t.shape] : null } : null;
}

function unify(a: OutType | null | undefined, b: OutType | null | undefined): OutType | null {
  if (!a || !b) return null;
  return { dtype: a.dtype === b.dtype ? a.dtype : a.dtype || b.dtype, shape: unifyShapes(a.shape, b.shape) };
}

function sameType(a: OutType | null, b: OutType | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.dtype !== b.dtype) return false;
  if (!a.shape || !b.shape) return a.shape === b.shape;
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape![i]);
}

const ifRule: ShapeRule = (c) => {
  const thenG = c.attrGraph('then_branch');
  const elseG = c.attrGraph('else_branch');
  if (!thenG || !elseG) return c.fail('If needs then_branch and else_branch');
  const t = c.subgraph(thenG, []);
  const e = c.subgraph(elseG, []);
  if (t.length !== c.numOutputs || e.length !== c.numOutputs) {
    c.conflict(`branches have ${t.length} and ${e.length} outputs, the node ${c.numOutputs}`);
  }
  const cond = c.scalar(0);
  const outs: (OutType | null)[] = [];
  for (let i = 0; i < c.numOutputs; i++) {
    if (cond !== null) outs.push((cond !== 0 ? t[i] : e[i]) ?? null);
    else {
      const a = t[i] ?? null;
      const b = e[i] ?? null;
      if (a && b && a.shape && b.shape && a.shape.length !== b.shape.length) {
        // allowed since opset 11 (outputs of different ranks): unknown rank
        outs.push({ dtype: a.dtype || b.dtype, shape: null });
      } else outs.push(unify(a, b));
    }
  }
  return outs;
};

const loop: ShapeRule = (c) => {
  const body = c.attrGraph('body');
  if (!body) return c.fail('Loop needs a body');
  const nCarried = Math.max(0, c.numInputs - 2);
  const m = c.has(0) ? c.scalar(0) : null;
  const condIn = c.has(1) ? c.scalar(1) : 1;
  const bounded = m !== null && m >= 0 && Number.isSafeInteger(m);
  // Induction on the condition: assume it is true on entry to the body; if the body then
  // provably returns true, it is true on every iteration and the loop runs M times.
  let assumeTrue = bounded && condIn === 1;
  const iterInputs = (carried: (OutType | null)[]): (OutType | null)[] => [
    out(DataType.INT64, []),
    out(DataType.BOOL, [], assumeTrue ? { dtype: DataType.BOOL, dims: [], data: [1] } : null),
    ...carried,
  ];
  let carried: (OutType | null)[] = [];
  for (let i = 0; i < nCarried; i++) carried.push(typeOf(c, i + 2));
  let res: (OutType | null)[] = [];
  // Carried types that change between iterations widen to unknown dims; two rounds settle
  // them (a third confirms nothing moved).
  for (let round = 0; round < 3; round++) {
    res = c.subgraph(body, iterInputs(carried));
    const next = carried.map((t, i) => (t ? (unify(t, res[1 + i]) ?? { dtype: t.dtype, shape: null }) : (res[1 + i] ?? null)));
    if (next.every((t, i) => sameType(t, carried[i]!))) break;
    carried = next;
  }
  const condOut = res[0]?.value?.data;
  const alwaysTrue = condOut !== undefined && condOut.length === 1 && condOut[0] === 1;
  if (assumeTrue && !alwaysTrue) {
    // the assumption did not hold: infer the body again without it
    assumeTrue = false;
    res = c.subgraph(body, iterInputs(carried));
  }
  const trips: Dim = assumeTrue ? m : null;
  const outs: (OutType | null)[] = [];
  for (let i = 0; i < c.numOutputs; i++) {
    if (i < nCarried) outs.push(carried[i] ? { dtype: carried[i]!.dtype, shape: carried[i]!.shape } : null);
    else {
      const s = res[1 + i];
      outs.push(s ? { dtype: s.dtype, shape: s.shape ? [trips, ...s.shape] : null } : null);
    }
  }
  return outs;
};

const scan: ShapeRule = (c) => {
  const body = c.attrGraph('body');
  if (!body) return c.fail('Scan needs a body');
  const m = c.attrInt('num_scan_inputs', 0);
  if (c.opset < 9) return scan8(c, m);
  const n = c.numInputs - m;
  if (!(m >= 1 && n >= 0)) c.fail(`num_scan_inputs ${m} does not fit ${c.numInputs} inputs`);
  const inAxes = c.attrInts('scan_input_axes') ?? new Array<number>(m).fill(0);
  const bodyInputs: (OutType | null)[] = [];
  for (let i = 0; i < n; i++) bodyInputs.push(typeOf(c, i));
  let seq: Dim = null;
  for (let j = 0; j < m; j++) {
    const t = typeOf(c, n + j);
    if (!t || !t.shape) {
      bodyInputs.push(t ? { dtype: t.dtype, shape: null } : null);
      continue;
    }
    const axis = normAxis(inAxes[j] ?? 0, t.shape.length);
    if (axis === null) return c.fail(`scan_input_axes[${j}] is out of range`);
    if (j === 0) seq = t.shape[axis]!;
    bodyInputs.push({ dtype: t.dtype, shape: t.shape.filter((_, k) => k !== axis) });
  }
  const res = c.subgraph(body, bodyInputs);
  const k = res.length - n;
  const outAxes = c.attrInts('scan_output_axes') ?? new Array<number>(Math.max(k, 0)).fill(0);
  const outs: (OutType | null)[] = [];
  for (let i = 0; i < n; i++) outs.push(unify(bodyInputs[i], res[i]) ?? res[i] ?? null);
  for (let j = 0; j < k; j++) {
    const s = res[n + j];
    if (!s || !s.shape) {
      outs.push(s ? { dtype: s.dtype, shape: null } : null);
      continue;
    }
    const axis = normAxis(outAxes[j] ?? 0, s.shape.length + 1);
    if (axis === null) return c.fail(`scan_output_axes[${j}] is out of range`);
    const shape: Shape = [...s.shape];
    shape.splice(axis, 0, seq);
    outs.push({ dtype: s.dtype, shape });
  }
  return outs;
};

/** Scan-8: inputs carry a batch axis first and the sequence axis second. */
function scan8(c: RuleContext, m: number): (OutType | null)[] {
  const body = c.attrGraph('body')!;
  const n = c.numInputs - 1 - m;
  if (!(m >= 1 && n >= 0)) c.fail(`num_scan_inputs ${m} does not fit ${c.numInputs} inputs`);
  const bodyInputs: (OutType | null)[] = [];
  let batch: Dim = null;
  let seq: Dim = null;
  for (let i = 0; i < n; i++) {
    const t = typeOf(c, 1 + i);
    bodyInputs.push(t ? { dtype: t.dtype, shape: t.shape ? t.shape.slice(1) : null } : null);
  }
  for (let j = 0; j < m; j++) {
    const t = typeOf(c, 1 + n + j);
    if (t?.shape && j === 0) {
      batch = t.shape[0] ?? null;
      seq = t.shape[1] ?? null;
    }
    bodyInputs.push(t ? { dtype: t.dtype, shape: t.shape ? t.shape.slice(2) : null } : null);
  }
  const res = c.subgraph(body, bodyInputs);
  return res.map((s, i) => {
    if (!s) return null;
    if (!s.shape) return { dtype: s.dtype, shape: null };
    return { dtype: s.dtype, shape: i < n ? [batch, ...s.shape] : [batch, seq, ...s.shape] };
  });
}

export const CONTROL_RULES: Record<string, ShapeRule> = {
  If: ifRule,
  Loop: loop,
  Scan: scan,
};
