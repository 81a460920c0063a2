// hoist-constants: Constant nodes holding tensors become initializers, so weights live
// where tools (and external data) expect them. Constants inside subgraphs are left alone.

import { constantNodeTensor } from '../ir/constants.js';
import type { Model } from '../ir/graph.js';
import { Value, tensorType } from '../ir/graph.js';
import { registerPass, type Pass, type PassContext, type PassResult } from './pass.js';

export function hoistConstants(model: Model, ctx?: PassContext): PassResult {
  const g = model.graph;
  let modified = false;
  for (const n of g.nodes) {
    if (n.opType !== 'Constant' || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    const out = n.outputs[0];
    if (!out || !out.name) continue;
    const t = constantNodeTensor(n);
    if (!t) {
      ctx?.info('I_HOIST_SKIPPED', `Constant '${out.name}' (sparse) stays a node`);
      continue;
    }
    if (g.initializers.has(out.name)) continue;
    // Checks done; now mutate: a fresh value takes over every use, then the node goes.
    t.name = out.name;
    const init = new Value(out.name, tensorType(t.dtype, [...t.dims]));
    init.docString = out.docString;
    const wasOutput = out.isGraphOutput();
    out.replaceAllUsesWith(init);
    g.removeNode(n);
    out.name = '';
    g.addInitializer(init, t);
    if (wasOutput) init.typeFromFile = true;
    modified = true;
  }
  return { model, modified };
}

export const hoistConstantsPass = (): Pass => ({
  name: 'hoist-constants',
  options: {},
  inPlace: true,
  run: hoistConstants,
});

registerPass('hoist-constants', hoistConstantsPass);
