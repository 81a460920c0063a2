// The shape rule table: one entry per ONNX op type (default domain), gathered from the
// per-family tables. Ops missing here are kept opaque by the engine.

import type { ShapeRule } from '../context.js';
import { CONCAT_SLICE_RULES } from './concat-slice.js';
import { CONSTANT_RULES } from './constants.js';
import { CONTROL_RULES } from './control.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { GATHER_RULES } from './gather.js';
import { NN_RULES } from './nn.js';
import { REDUCE_RULES } from './reduce.js';
import { RESHAPE_RULES } from './reshape.js';
import { RESIZE_RULES } from './resize.js';

export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = new Map(
  Object.entries({ ...ELEMENTWISE_RULES, ...NN_RULES, ...REDUCE_RULES, ...CONSTANT_RULES, ...RESHAPE_RULES, ...CONCAT_SLICE_RULES, ...RESIZE_RULES, ...GATHER_RULES, ...CONTROL_RULES }),
);
