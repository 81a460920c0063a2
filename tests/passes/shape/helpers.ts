// Shared steps of the shape tests: infer (and verify the IR), then optionally check the
// result against onnxruntime.

import { expect } from 'vitest';
import type { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Dim, Model, Value } from '../../../src/ir/graph.js';
import { assertValid } from '../../../src/ir/verify.js';
import { type Diagnostic, PassContext } from '../../../src/passes/pass.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { compareWithOrt } from './ort-probe.js';

/** Run shape inference, verify the IR, and return the diagnostics. */
export function infer(model: Model, inputShapes: Record<string, Dim[]> = {}): Diagnostic[] {
  const ctx = new PassContext();
  inferShapes(model, { inputShapes, ctx });
  assertValid(model);
  return ctx.diagnostics;
}

/** Infer and expect no warnings at all. */
export function inferClean(model: Model, inputShapes: Record<string, Dim[]> = {}): void {
  expect(infer(model, inputShapes)).toEqual([]);
}

export function typeOf(v: Value): { dtype: number | undefined; shape: Dim[] | null } {
  return { dtype: v.dtype, shape: v.shape };
}

/**
 * Every node output's inferred shape (symbols bound by `bind`), dtype and folded value
 * equal onnxruntime's when run with inputs of `runShapes` (default: the static input shapes).
 */
export async function expectOrtAgrees(model: Model, runShapes: Record<string, number[]> = {}, bind: Record<string, number> = {}): Promise<void> {
  const r = await compareWithOrt(model, runShapes, bind);
  expect(r.problems).toEqual([]);
}

export function codes(ds: Diagnostic[]): string[] {
  return ds.map((d) => d.code);
}

/** An int64 initializer (1-D by default). */
export function i64(b: GraphBuilder, name: string, values: (number | bigint)[], dims: number[] = [values.length]) {
  return b.init(name, DataType.INT64, dims, BigInt64Array.from(values, (v) => BigInt(v)));
}
