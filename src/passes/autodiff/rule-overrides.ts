// Gradient rule tables changed for named nodes: straight-through rounding (quantisation-aware
// training, the white-box attack through a quantised wire) and stop-gradient copies (a loss
// target that is itself a graph value).

import type { Node } from '../../ir/graph.js';
import { differentiableInputs, type GradRule, type GradRuleTable } from './rule.js';
import { GRAD_RULES } from './rules/index.js';

/** The rounding ops a straight-through estimator applies to. */
export const STRAIGHT_THROUGH_OPS = ['Floor', 'Round'] as const;

/**
 * Floor and Round nodes named in `nodes` pass their output's gradient straight through to
 * their input (as if they were Identity); unnamed ones keep `base`'s rule (zero gradient).
 */
export function straightThroughRules(nodes: readonly string[], base: GradRuleTable = GRAD_RULES): GradRuleTable {
  const ste = new Set(nodes);
  const table: GradRuleTable = { ...base };
  for (const op of STRAIGHT_THROUGH_OPS) {
    const fallback = base[op];
    const rule: GradRule = {
      differentiable: [0],
      grad(c) {
        if (ste.has(c.node.name)) c.setGrad(0, c.dyOrZeros(0));
        else fallback?.grad(c);
      },
    };
    table[op] = rule;
  }
  return table;
}

/**
 * Identity nodes named in `nodes` pass no gradient (their output is a constant to the
 * autodiff pass); other Identity nodes keep `base`'s rule. Used for a loss target that is a
 * value of the graph: the loss copies it through such a node so only that use is cut.
 */
export function stopGradientRules(nodes: readonly string[], base: GradRuleTable = GRAD_RULES): GradRuleTable {
  if (nodes.length === 0) return base;
  const stop = new Set(nodes);
  const identity = base.Identity!;
  const rule: GradRule = {
    differentiable: (n: Node) => (stop.has(n.name) ? [] : differentiableInputs(identity, n)),
    grad: (c) => identity.grad(c),
  };
  return { ...base, Identity: rule };
}
