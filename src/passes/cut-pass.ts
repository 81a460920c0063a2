// The cut as a pass: `cut{at=a+b}` (tensors) or `cut{after=node}` makes the edge/cloud split
// of a model (new models; the model given is left as it was).

import { SplitcError } from '../ir/errors.js';
import type { Model } from '../ir/graph.js';
import { cutAfterNode, splitModel, type SplitResult } from './cut.js';
import { CHECKED_RUN, checkPassOptions, formatListOption, parseListOption, type Pass, type PassContext, PassManager, registerPass } from './pass.js';

export function cutPass(options: Record<string, string>): Pass<Model, SplitResult> {
  checkPassOptions('cut', options, ['at', 'after'], 'at=tensor+tensor or after=node');
  const { at, after } = options;
  if ((at === undefined) === (after === undefined)) {
    throw new SplitcError('E_BAD_ARGUMENT', `pass 'cut' needs exactly one of at=tensor+tensor and after=node`, { hint: 'e.g. cut{at=conv_3} or cut{after=p2o.Conv.10}' });
  }
  return {
    name: 'cut',
    options,
    inPlace: false,
    run: (model, ctx) => ({ model: splitModel(model, at !== undefined ? parseListOption(at) : cutAfterNode(model, after!), ctx), modified: true }),
  };
}

registerPass('cut', cutPass);

/** The split at `tensors`, made by the cut pass under a checking manager: how commands cut. */
export function cutUnderManager(model: Model, tensors: readonly string[], ctx?: PassContext): SplitResult {
  return new PassManager<Model, SplitResult>([cutPass({ at: formatListOption(tensors) })], CHECKED_RUN).run(model, ctx).model;
}
