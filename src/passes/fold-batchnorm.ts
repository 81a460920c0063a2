// fold-batchnorm: an inference-mode BatchNormalization right after a Conv whose weights and
// statistics are all constants becomes part of the Conv: with s = scale / √(var + ε),
// W′[o, …] = s[o] · W[o, …] and B′[o] = s[o] · (B[o] − mean[o]) + bias[o]. The function is the
// same (up to float rounding); the graph has one node fewer per pair. onnxruntime does this
// itself when it loads a forward model, but not inside a gradient graph, whose backward part
// would keep a per-channel multiply for every BatchNorm: differentiating with respect to the
// inputs alone (`splitc grad --wrt inputs`), folding first removes those.
//
// Only float32 Convs and BatchNorms with one consumer between them are folded; a Conv output
// that is also a graph output, or read elsewhere, stays as it is.

import { constantOf, dropWeightIfUnused } from '../ir/constants.js';
import { DataType } from '../ir/dtype.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { NameScope } from '../ir/names.js';
import { Emitter } from './emit.js';
import { registerPass, type Pass, type PassContext, type PassResult } from './pass.js';

function floats(v: Value | null | undefined): Float32Array | null {
  const t = constantOf(v);
  if (!t || t.dtype !== DataType.FLOAT) return null;
  return t.toTypedArray() as Float32Array;
}

/** The constants of a foldable Conv → BatchNormalization pair, or null. */
function foldable(bn: Node): { conv: Node; w: Float32Array; wDims: number[]; b: Float32Array | null; k: Float32Array[] } | null {
  if (bn.opType !== 'BatchNormalization' || (bn.domain !== '' && bn.domain !== 'ai.onnx')) return null;
  if (bn.attrInt('training_mode', 0) !== 0 || bn.attrInt('spatial', 1) !== 1) return null;
  if (bn.outputs.slice(1).some((o) => o && o.uses().length > 0)) return null;
  const x = bn.inputs[0];
  const conv = x?.producer();
  if (!x || !conv || conv.opType !== 'Conv' || (conv.domain !== '' && conv.domain !== 'ai.onnx')) return null;
  if (x.uses().length !== 1 || x.isGraphOutput()) return null;
  const wt = constantOf(conv.inputs[1]);
  const w = floats(conv.inputs[1]);
  if (!wt || !w || wt.dims.length < 3) return null;
  const channels = wt.dims[0]!;
  const b = conv.inputs[2] ? floats(conv.inputs[2]) : null;
  if (conv.inputs[2] && (!b || b.length !== channels)) return null;
  const k = [1, 2, 3, 4].map((i) => floats(bn.inputs[i]));
  if (k.some((a) => !a || a.length !== channels)) return null;
  return { conv, w, wDims: [...wt.dims], b, k: k as Float32Array[] };
}

/** Folds every foldable pair in place; `folded` counts the BatchNorms removed. */
export function foldBatchNorm(model: Model, ctx?: PassContext): PassResult & { folded: number } {
  const g = model.graph;
  // The folded weights replace initializers, so they are initializers too; their names avoid the graph's values.
  const em = new Emitter(g, { opset: model.opset, initializers: true, names: new NameScope(g.valuesByName().keys()) });
  const constant = (base: string, dims: number[], data: Float32Array): Value => em.namedConstant(base, DataType.FLOAT, dims, data);
  let folded = 0;
  for (const bn of [...g.nodes]) {
    const f = foldable(bn);
    if (!f) continue;
    const { conv, w, wDims, b } = f;
    const [scale, bias, mean, variance] = f.k as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = bn.attrFloat('epsilon', 1e-5)!;
    const channels = wDims[0]!;
    const per = w.length / channels;
    const w2 = new Float32Array(w.length);
    const b2 = new Float32Array(channels);
    for (let o = 0; o < channels; o++) {
      const s = scale[o]! / Math.sqrt(variance[o]! + eps);
      for (let i = o * per; i < (o + 1) * per; i++) w2[i] = w[i]! * s;
      b2[o] = s * ((b ? b[o]! : 0) - mean[o]!) + bias[o]!;
    }
    const oldW = conv.inputs[1];
    const oldB = conv.inputs[2];
    const params = bn.inputs.slice(1);
    conv.setInput(1, constant(`${conv.name || 'conv'}/bn_folded_W`, wDims, w2));
    if (conv.inputs.length > 2) conv.setInput(2, constant(`${conv.name || 'conv'}/bn_folded_B`, [channels], b2));
    else conv.appendInput(constant(`${conv.name || 'conv'}/bn_folded_B`, [channels], b2));
    // The Conv's output takes over the BatchNorm's output, name included (it may be a graph output).
    const x = conv.outputs[0]!;
    const y = bn.outputs[0]!;
    const yName = y.name;
    y.replaceAllUsesWith(x);
    g.removeNode(bn);
    y.name = '';
    x.name = yName;
    for (const v of [oldW, oldB, ...params]) dropWeightIfUnused(g, v);
    folded++;
  }
  if (folded) ctx?.info('I_BN_FOLDED', `folded ${folded} BatchNormalization node${folded === 1 ? '' : 's'} into the Convs before them`);
  return { model, modified: folded > 0, folded };
}

/** The pass keeps how many BatchNormalizations its runs folded (for a command's report). */
export const foldBatchNormPass = (): Pass & { readonly folded: number } => {
  let folded = 0;
  return {
    name: 'fold-batchnorm',
    options: {},
    inPlace: true,
    get folded() {
      return folded;
    },
    run(model, ctx) {
      const r = foldBatchNorm(model, ctx);
      folded += r.folded;
      return r;
    },
  };
};

registerPass('fold-batchnorm', () => foldBatchNormPass());
