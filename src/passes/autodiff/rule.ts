// The contract between the autodiff pass and the gradient rules: one rule per op type, in a
// table. A rule sees the forward node, the gradients of its outputs, and which inputs need
// a gradient; it emits standard ONNX ops with the GradBuilder and hands back one gradient
// per wanted input.

import { isFloatDtype } from '../../ir/dtype.js';
import { SplitcError } from '../../ir/errors.js';
import type { Node, Value } from '../../ir/graph.js';
import type { GradBuilder } from './builder.js';

export interface GradContext {
  readonly node: Node;
  readonly b: GradBuilder;
  /** The model's opset (after any raise the pass made). */
  readonly opset: number;
  /** Forward input i (throws when absent). */
  x(i: number): Value;
  /** Forward input i or null when absent / empty. */
  xOpt(i: number): Value | null;
  /** Forward output i. */
  y(i: number): Value;
  /** Gradient of output i, or null when no gradient reaches it (zero). */
  dy(i: number): Value | null;
  /** Gradient of output i, zeros when none reaches it. */
  dyOrZeros(i: number): Value;
  /** Whether the gradient of input i is needed. */
  wants(i: number): boolean;
  /** Record the gradient of input i (ignored when not wanted). */
  setGrad(i: number, g: Value): void;
  /** A coded error about this node. */
  fail(message: string, hint?: string): SplitcError;
}

export interface GradRule {
  /**
   * Inputs a gradient can flow through (default: every input). Index inputs, shapes, axes
   * and other integer or structural inputs are left out.
   */
  differentiable?: readonly number[] | ((node: Node) => readonly number[]);
  /** The opset the emitted gradient ops need at least (the pass raises the model to it). */
  minOpset?: number | ((node: Node) => number);
  /** Emit the gradients; `ctx.setGrad(i, …)` for each wanted input. */
  grad(ctx: GradContext): void;
}

export type GradRuleTable = Record<string, GradRule>;

/** True when `v` can carry a gradient (a floating-point tensor, or of unknown type). */
export function isDifferentiableValue(v: Value): boolean {
  const dt = v.dtype;
  return dt === undefined || isFloatDtype(dt);
}

export function differentiableInputs(rule: GradRule, node: Node): readonly number[] {
  const d = rule.differentiable;
  if (d === undefined) return node.inputs.map((_, i) => i);
  return typeof d === 'function' ? d(node) : d;
}

export function ruleMinOpset(rule: GradRule, node: Node): number {
  const m = rule.minOpset;
  if (m === undefined) return 0;
  return typeof m === 'function' ? m(node) : m;
}
