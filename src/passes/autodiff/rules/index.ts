// The gradient rule table: one rule per ONNX op type, from the files of this folder.

import type { GradRuleTable } from '../rule.js';
import { CONV_RULES } from './conv.js';
import { DROPOUT_RULES } from './dropout.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { GATHER_SCATTER_RULES } from './gather-scatter.js';
import { GRID_SAMPLE_RULES } from './grid-sample.js';
import { LAYOUT_RULES } from './layout.js';
import { LOSS_OP_RULES } from './loss-ops.js';
import { LRN_RULES } from './lrn.js';
import { NORM_RULES } from './norm.js';
import { POOL_RULES } from './pool.js';
import { PRODUCT_RULES } from './products.js';
import { REDUCE_RULES } from './reduce.js';
import { RESIZE_RULES } from './resize.js';
import { SLICE_PAD_RULES } from './slice-pad.js';
import { SOFTMAX_RULES } from './softmax.js';

export const GRAD_RULES: GradRuleTable = {
  ...ELEMENTWISE_RULES,
  ...LAYOUT_RULES,
  ...SLICE_PAD_RULES,
  ...GATHER_SCATTER_RULES,
  ...RESIZE_RULES,
  ...CONV_RULES,
  ...POOL_RULES,
  ...DROPOUT_RULES,
  ...LRN_RULES,
  ...GRID_SAMPLE_RULES,
  ...PRODUCT_RULES,
  ...REDUCE_RULES,
  ...SOFTMAX_RULES,
  ...NORM_RULES,
  ...LOSS_OP_RULES,
};
