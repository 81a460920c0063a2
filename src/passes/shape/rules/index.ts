// The shape rule table: one entry per ONNX op type (default domain), gathered from the
// per-family tables. Ops missing here are kept opaque by the engine.

import type { ShapeRule } from '../context.js';
import { CONTROL_RULES } from './control.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { NN_RULES } from './nn.js';
import { REDUCE_RULES } from './reduce.js';
import { TENSOR_RULES } from './tensor.js';

export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = new Map(
  Object.entries({ ...ELEMENTWISE_RULES, ...NN_RULES, ...REDUCE_RULES, ...TENSOR_RULES, ...CONTROL_RULES }),
);
