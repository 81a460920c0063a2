// Diagnostics the pipeline raises at more than one site (its codes are declared by the
// layers below: E_PLAN by search/).

import { SplitcError } from '../ir/errors.js';

/** A plan file that cannot be read or parsed; `problem` says which. */
export function unreadablePlan(problem: string): SplitcError {
  return new SplitcError('E_PLAN', problem, { hint: 'write one with splitc plan <model> ... -o plan.json' });
}

/** A flag's value the command cannot use (E_BAD_ARGUMENT); `hint` says what would do. */
export function badArgument(why: string, hint?: string): SplitcError {
  return new SplitcError('E_BAD_ARGUMENT', why, hint ? { hint } : {});
}
