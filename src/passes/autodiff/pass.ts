// Loss building and differentiation as passes, as `splitc grad` runs them:
// `loss{spec=ce+1e-4*l2;params=a+b}` appends the loss a spec describes as a graph output,
// `autodiff{wrt=x+w;loss=loss}` adds the gradient outputs. Both mutate the model given; what
// they built (the loss value, the gradients) is kept on the pass object for the caller's report.

import { SplitcError } from '../../ir/errors.js';
import type { Model } from '../../ir/graph.js';
import { checkPassOptions, formatListOption, parseListOption, registerPass, type Pass } from '../pass.js';
import { formatShapeOption, parseShapeOption } from '../shape/index.js';
import type { Dim } from '../../ir/graph.js';
import { type AutodiffResult, differentiate, exposeAsInputs } from './index.js';
import { type BuiltLoss, buildLoss } from './losses.js';

export interface LossPass extends Pass {
  /** What the last run built (undefined before it ran). */
  readonly built: BuiltLoss | undefined;
}

/** `loss{spec=…;params=a+b}`: `params` are the l2 term's values when the spec names none. */
export function lossPass(options: Record<string, string>): LossPass {
  checkPassOptions('loss', options, ['spec', 'params'], 'spec=<loss spec> and params=a+b');
  const spec = options.spec ?? '';
  const params = parseListOption(options.params ?? '');
  let built: BuiltLoss | undefined;
  return {
    name: 'loss',
    options,
    inPlace: true,
    get built() {
      return built;
    },
    run(model: Model) {
      built = buildLoss(model, spec, params);
      // Name the loss output plainly when the name is free.
      if (built.loss.name !== 'loss' && !model.graph.valuesByName().has('loss')) built.loss.name = 'loss';
      model.graph.outputs.push(built.loss);
      return { model, modified: true };
    },
  };
}

export interface AutodiffPass extends Pass {
  /** What the last run differentiated (undefined before it ran). */
  readonly result: AutodiffResult | undefined;
}

export interface AutodiffPassOptions {
  wrt: readonly string[];
  /** The scalar loss value (default without seeds: the model's last output, where the loss pass puts it). */
  loss?: string;
  /** Instead of a loss: output name → name of a new graph input carrying its gradient (vector-Jacobian products). */
  seeds?: Record<string, string>;
  inputShapes?: Record<string, Dim[]>;
  /** Make the chosen values that are not graph inputs plain graph inputs first (to be fed). */
  feedParams?: boolean;
}

/** `autodiff{wrt=a+b;loss=name;shape=x:2x1x28x28;feed-params=true}`, or `seeds=out:dout+…` instead of a loss. */
export function autodiffPass(o: AutodiffPassOptions): AutodiffPass {
  const options: Record<string, string> = { wrt: formatListOption(o.wrt) };
  if (o.loss !== undefined) options.loss = o.loss;
  if (o.seeds) options.seeds = formatListOption(Object.entries(o.seeds).map(([out, seed]) => `${out}:${seed}`));
  if (o.inputShapes && Object.keys(o.inputShapes).length) options.shape = formatShapeOption(o.inputShapes);
  if (o.feedParams) options['feed-params'] = 'true';
  let result: AutodiffResult | undefined;
  return {
    name: 'autodiff',
    options,
    inPlace: true,
    get result() {
      return result;
    },
    run(model: Model) {
      const wrt = [...o.wrt];
      if (o.feedParams) {
        const inputs = new Set(model.graph.inputs);
        const byName = model.graph.valuesByName();
        exposeAsInputs(model, wrt.filter((n) => !inputs.has(byName.get(n)!)));
      }
      const loss = o.loss ?? (o.seeds ? undefined : model.graph.outputs[model.graph.outputs.length - 1]?.name);
      result = differentiate(model, {
        wrt,
        ...(loss !== undefined ? { loss } : {}),
        ...(o.seeds ? { seeds: o.seeds } : {}),
        ...(o.inputShapes ? { inputShapes: o.inputShapes } : {}),
      });
      return { model, modified: true };
    },
  };
}

/** `out:dout+out2:dout2` → {out: dout, out2: dout2}. */
function parseSeedsOption(text: string): Record<string, string> {
  return Object.fromEntries(
    parseListOption(text).map((entry) => {
      const colon = entry.lastIndexOf(':');
      if (colon <= 0 || colon === entry.length - 1) {
        throw new SplitcError('E_BAD_ARGUMENT', `cannot read the seed '${entry}' of pass 'autodiff'`, { hint: 'seeds=output:gradient_input, joined by +' });
      }
      return [entry.slice(0, colon), entry.slice(colon + 1)];
    }),
  );
}

registerPass('loss', lossPass);
registerPass('autodiff', (options) => {
  checkPassOptions('autodiff', options, ['wrt', 'loss', 'seeds', 'shape', 'feed-params'], 'wrt=a+b, loss=<value> or seeds=out:dout+…, shape=x:1x3x8 and feed-params=true');
  return autodiffPass({
    wrt: parseListOption(options.wrt ?? ''),
    ...(options.loss !== undefined ? { loss: options.loss } : {}),
    ...(options.seeds !== undefined ? { seeds: parseSeedsOption(options.seeds) } : {}),
    ...(options.shape !== undefined ? { inputShapes: parseShapeOption(options.shape) } : {}),
    ...(options['feed-params'] === 'true' ? { feedParams: true } : {}),
  });
});
