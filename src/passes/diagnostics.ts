// The passes' error codes (cut, compression, autodiff, lowering; members of ErrorCode, see
// ir/errors.ts) and the diagnostics several passes raise, each written once.

import { SplitcError } from '../ir/errors.js';

declare module '../ir/errors.js' {
  interface ErrorCodes {
    E_SHAPE: 'a shape a pass needs is unknown or contradictory';
    E_CUT: 'the cut tensors do not split the model';
    E_CUT_TYPE: 'a cut tensor has no known type';
    E_COMPRESS: 'a compression stage cannot be applied to a cut tensor (shape, axis, statistics)';
    E_AUTODIFF: 'a gradient cannot be built: an op without a rule, a value that is not differentiable, a bad loss';
  }
}
