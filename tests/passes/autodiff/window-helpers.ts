// Shared by the gradient tests of the window ops (Conv, ConvTranspose, the pools) and of
// Dropout, LRN and GridSample: tolerances, a non-vacuous gradient check, seeded values.

import { expect } from 'vitest';
import type { AttrInput } from '../../../src/ir/builder.js';
import { xorshift32 } from '../../helpers/onnx-oracle.js';
import { describeFailures, type GradCheckCase, gradCheck } from './gradcheck.js';

// onnxruntime's CPU provider runs Conv, ConvTranspose, the pools and LRN in float32 only, so
// those checks are float32. Conv, ConvTranspose, AveragePool and GlobalAveragePool are linear
// in each argument (gradCheck moves one input at a time), so the central difference with a
// unit step is exact up to float32 rounding of the loss (~1e-6 relative): LINEAR, atol = rtol
// = 1e-4 (all pass at 1e-5; a wrong rule misplaces whole window taps, errors O(0.1–1)).
// MaxPool and GlobalMaxPool are piecewise linear: their inputs are distinct values 2/n
// apart and the step is 1e-3 (|v| ≤ 1), so no argmax changes inside the difference and it
// is again exact up to rounding, now of the float32 inputs x ± h·v and divided by 2h
// (observed errors up to ~3e-4): PIECEWISE, atol = rtol = 2e-3.
export const LINEAR = { dtype: 'float32', h: 1, atol: 1e-4, rtol: 1e-4 } as const;
export const PIECEWISE = { dtype: 'float32', h: 1e-3, atol: 2e-3, rtol: 2e-3 } as const;

export type Attrs = Record<string, AttrInput>;

export async function expectGrad(c: GradCheckCase): Promise<void> {
  const r = await gradCheck(c);
  expect(r.ok, describeFailures(r)).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  // the check cannot pass vacuously: some directional derivative is clearly non-zero
  expect(Math.max(...r.checks.map((x) => Math.abs(x.analytic)))).toBeGreaterThan(0.05);
}

/** n distinct values in (-1, 1), 2/n apart, in a seeded random order (no MaxPool ties). */
export function distinct(n: number, seed: number): number[] {
  const rnd = xorshift32(seed);
  const v = Array.from({ length: n }, (_, i) => -1 + (2 * i + 1) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

/** A seeded generator whose streams for nearby seeds are unrelated (xorshift32 of consecutive seeds starts alike). */
export function mixedRandom(seed: number): () => number {
  const rnd = xorshift32(Math.imul(seed, 0x9e3779b1) >>> 0);
  for (let i = 0; i < 8; i++) rnd();
  return rnd;
}

export const numel = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);
