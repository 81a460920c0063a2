// Property tests: rules with many parameters (windows, slicing, resizing, gathering,
// reshaping, broadcasting) on seeded random valid nodes, each checked against onnxruntime.

import { describe, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Value } from '../../../src/ir/graph.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { expectOrtAgrees, inferClean } from './helpers.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const NODES = Number(process.env.SHAPE_PROP_NODES ?? 60);
// SHAPE_PROP_SEED shifts every seed, to explore more cases locally
const SEED = Number(process.env.SHAPE_PROP_SEED ?? 0);

function rng(seed: number) {
  const r = xorshift32(seed + SEED * 1000);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return { r, int, pick };
}

function i64(b: GraphBuilder, name: string, values: (number | bigint)[]): Value {
  return b.init(name, I64, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
}

describe('random valid nodes agree with onnxruntime', () => {
  it('Slice: random axes, negative and out-of-range bounds, steps', async () => {
    const { int, pick, r } = rng(11);
    const b = new GraphBuilder();
    const x = b.input('x', F, [5, 1, 7, 4]);
    const bounds = [-9, -5, -1, 0, 1, 2, 3, 6, 9, -9223372036854775808n, 9223372036854775807n];
    for (let k = 0; k < NODES; k++) {
      const axes = [0, 1, 2, 3].filter(() => r() < 0.5);
      if (!axes.length) axes.push(int(0, 3));
      const neg = axes.map((a) => (r() < 0.3 ? a - 4 : a));
      const starts = axes.map(() => pick(bounds));
      const ends = axes.map(() => pick(bounds));
      const steps = axes.map(() => pick([-3, -2, -1, 1, 1, 2, 3]));
      b.output(b.op('Slice', [x, i64(b, `s${k}`, starts), i64(b, `e${k}`, ends), i64(b, `a${k}`, neg), i64(b, `p${k}`, steps)]));
    }
    const m = b.model({ opset: 13 });
    inferClean(m);
    await expectOrtAgrees(m);
  });

  it('Conv and pools: kernels, strides, dilations, pads, auto_pad, ceil_mode', async () => {
    const { int, pick } = rng(12);
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 4, 13, 10]);
    let made = 0;
    while (made < NODES) {
      const k = [int(1, 4), int(1, 4)];
      const s = [int(1, 3), int(1, 3)];
      const d = [int(1, 2), int(1, 2)];
      const autoPad = pick(['NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);
      const pads = [int(0, 2), int(0, 2), int(0, 2), int(0, 2)];
      const kind = pick(['Conv', 'MaxPool', 'AveragePool']);
      const attrs: Record<string, number | number[] | string> = { kernel_shape: k, strides: s, auto_pad: autoPad };
      if (autoPad === 'NOTSET') attrs.pads = pads;
      if (kind !== 'AveragePool' && autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') attrs.dilations = d;
      const dil = (attrs.dilations as number[] | undefined) ?? [1, 1];
      // windows must fit the (padded) input, pads must be smaller than the kernel for pools
      const fits = [13, 10].every((n, i) => n + (autoPad === 'NOTSET' ? pads[i]! + pads[i + 2]! : 0) >= (k[i]! - 1) * dil[i]! + 1);
      if (!fits || (kind !== 'Conv' && autoPad === 'NOTSET' && pads.some((p, i) => p >= k[i % 2]!))) continue;
      // onnxruntime rejects SAME padding for pools whose kernel is smaller than the stride
      if (kind !== 'Conv' && autoPad.startsWith('SAME') && k.some((kk, i) => kk < s[i]!)) continue;
      if (kind === 'Conv') b.output(b.op('Conv', [x, b.weight(`w${made}`, [3, 4, k[0]!, k[1]!])], attrs));
      else b.output(b.op(kind, [x], { ...attrs, ceil_mode: pick([0, 1]) }));
      made++;
    }
    const m = b.model({ opset: 18 });
    inferClean(m);
    await expectOrtAgrees(m);
  });

  it('ConvTranspose: strides, dilations, pads, output_padding, groups', async () => {
    const { int, pick } = rng(13);
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 4, 5, 6]);
    let made = 0;
    while (made < NODES) {
      const k = [int(1, 4), int(1, 4)];
      const s = [int(1, 3), int(1, 3)];
      const d = [int(1, 2), int(1, 2)];
      const pads = [int(0, 2), int(0, 2), int(0, 2), int(0, 2)];
      const op = [int(0, 2), int(0, 2)];
      const group = pick([1, 2]);
      // onnxruntime wants output_padding smaller than the stride; sizes must stay positive
      if (op.some((p, i) => p >= s[i]!)) continue;
      const outs = [5, 6].map((n, i) => s[i]! * (n - 1) + op[i]! + (k[i]! - 1) * d[i]! + 1 - pads[i]! - pads[i + 2]!);
      if (outs.some((o) => o <= 0)) continue;
      const w = b.weight(`w${made}`, [4, 6 / group, k[0]!, k[1]!]); // 6 output channels
      b.output(b.op('ConvTranspose', [x, w], { kernel_shape: k, strides: s, dilations: d, pads, output_padding: op, group }));
      made++;
    }
    const m = b.model({ opset: 13 });
    inferClean(m);
    await expectOrtAgrees(m);
  });

  it('Resize with random scales and sizes; Gather with random axes and indices; Pad', async () => {
    const { int, pick, r } = rng(14);
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 7, 9]);
    for (let k = 0; k < NODES; k++) {
      if (r() < 0.5) {
        const scales = [1, 1, pick([0.5, 0.6, 0.75, 1, 1.25, 1.5, 1.7, 2, 3]), pick([0.33, 0.5, 0.8, 1, 1.5, 2.5, 4])];
        b.output(b.op('Resize', [x, null, b.constant(`sc${k}`, F, [4], scales)], { mode: pick(['nearest', 'linear']) }));
      } else {
        b.output(b.op('Resize', [x, null, null, i64(b, `sz${k}`, [2, 3, int(1, 20), int(1, 20)])], { mode: 'nearest' }));
      }
      const axis = int(-4, 3);
      const dim = [2, 3, 7, 9][(axis + 4) % 4]!;
      const idxDims = pick([[], [2], [2, 3]]);
      const n = idxDims.reduce((a, c) => a * c, 1);
      const idx = Array.from({ length: n }, () => int(-dim, dim - 1));
      b.output(b.op('Gather', [x, b.init(`g${k}`, I64, idxDims, BigInt64Array.from(idx, BigInt))], { axis }));
      const pads = Array.from({ length: 8 }, (_, i) => (i % 4 < 2 ? int(0, 1) : int(-2, 3)));
      b.output(b.op('Pad', [x, i64(b, `pd${k}`, pads)], { mode: pick(['constant', 'edge', 'reflect']) }));
    }
    const m = b.model({ opset: 13 });
    inferClean(m);
    await expectOrtAgrees(m);
  });

  it('Reshape with 0 and -1, broadcasting arithmetic, Expand and Transpose', async () => {
    const { int, pick, r } = rng(15);
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4, 5]);
    const factors = [2, 3, 4, 5];
    for (let k = 0; k < NODES; k++) {
      // a random regrouping of the element count, with some dims replaced by 0 or -1
      const parts: number[] = [];
      let acc = 1;
      for (const f of [...factors].sort(() => r() - 0.5)) {
        acc *= f;
        if (r() < 0.5) {
          parts.push(acc);
          acc = 1;
        }
      }
      if (acc !== 1) parts.push(acc);
      const target = parts.map((p, i) => (i < 4 && p === factors[i] && r() < 0.5 ? 0 : p));
      if (r() < 0.7) target[int(0, target.length - 1)] = -1;
      if (target.filter((t) => t === -1).length <= 1) b.output(b.op('Reshape', [x, i64(b, `t${k}`, target)]));
      const shapeB = [pick([1, 2]), pick([1, 3]), pick([1, 4]), pick([1, 5])].slice(int(0, 3));
      b.output(b.op(pick(['Add', 'Mul', 'Less', 'Max']), [x, b.weight(`w${k}`, shapeB)]));
      b.output(b.op('Expand', [x, i64(b, `ex${k}`, [pick([1, 3]), 1, 1, 1, 1].slice(int(0, 1)))]));
      const perm = [0, 1, 2, 3].sort(() => r() - 0.5);
      b.output(b.op('Transpose', [x], { perm }));
    }
    const m = b.model({ opset: 14 });
    inferClean(m);
    await expectOrtAgrees(m);
  });

  it('MatMul with random ranks and broadcast batch dims; reductions with random axes and keepdims', async () => {
    const { int, pick, r } = rng(16);
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4, 5]);
    for (let k = 0; k < NODES; k++) {
      const kk = int(1, 4);
      const batchA = [pick([1, 3]), pick([1, 2])].slice(int(0, 2));
      const batchB = [pick([1, 3]), pick([1, 2])].slice(int(0, 2));
      const a = r() < 0.2 ? [kk] : [...batchA, int(1, 3), kk];
      const bb = r() < 0.2 ? [kk] : [...batchB, kk, int(1, 3)];
      // batch dims must broadcast when right-aligned
      const ba = a.slice(0, -2);
      const bbb = bb.slice(0, -2);
      const ok = ba.every((d, i) => {
        const e = bbb[bbb.length - ba.length + i];
        return e === undefined || d === e || d === 1 || e === 1;
      });
      if (ok) b.output(b.op('MatMul', [b.weight(`a${k}`, a), b.weight(`b${k}`, bb)]));
      const op = pick(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceProd', 'ReduceL2', 'ReduceLogSumExp']);
      const axes = [0, 1, 2, 3].filter(() => r() < 0.4).map((a2) => (r() < 0.5 ? a2 - 4 : a2));
      const keepdims = pick([0, 1]);
      if (op === 'ReduceSum') {
        b.output(b.op(op, axes.length ? [x, i64(b, `ax${k}`, axes)] : [x], { keepdims }));
      } else {
        b.output(b.op(op, [x], axes.length ? { axes, keepdims } : { keepdims }));
      }
      b.output(b.op(pick(['ArgMax', 'ArgMin']), [x], { axis: int(-4, 3), keepdims }));
    }
    const m = b.model({ opset: 13 });
    inferClean(m);
    await expectOrtAgrees(m);
  });
});
