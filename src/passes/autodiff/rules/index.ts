// The gradient rule table: one rule per ONNX op type, from the files of this folder.

import type { GradRuleTable } from '../rule.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { LINALG_RULES } from './linalg.js';
import { LOSS_OP_RULES } from './loss-ops.js';
import { NN_RULES } from './nn.js';
import { TENSOR_RULES } from './tensor.js';

export const GRAD_RULES: GradRuleTable = {
  ...ELEMENTWISE_RULES,
  ...TENSOR_RULES,
  ...NN_RULES,
  ...LINALG_RULES,
  ...LOSS_OP_RULES,
};
