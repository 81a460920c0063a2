// upgrade-opset: moves a model to a newer version of the default ONNX operator set so that
// onnxruntime computes bit-identical outputs. Op knowledge lives in two tables:
// OPSET_CHANGES (what changed in each op's schema at each opset after 7) and UPGRADERS (how
// to rewrite a node across a change that is not backward compatible).

import { cloneGraph } from '../ir/clone.js';
import { constantOf } from '../ir/constants.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import { SplitcError } from '../ir/errors.js';
import {
  allGraphs,
  type Attribute,
  AttrType,
  attr,
  type Graph,
  type Int,
  Model,
  Node,
  type Shape,
  tensorType,
  type TensorType,
  Value,
} from '../ir/graph.js';
import { Tensor, type TypedArray } from '../ir/tensor.js';
import { PassContext, registerPass, type Pass } from './pass.js';
import { inferShapes } from './shape/infer.js';

/** Oldest opset a model can be upgraded from (opset 6 and older have other broadcasting rules). */
export const MIN_UPGRADE_OPSET = 7;
/** Newest opset the upgrade writes: what onnxruntime-node 1.30 runs. */
export const MAX_UPGRADE_OPSET = 21;

export interface UpgradeResult {
  /** Default-domain opset before the call. */
  from: number;
  /** Default-domain opset after the call (`from` when there was nothing to do). */
  to: number;
  /** Nodes rewritten (nodes whose ops changed only compatibly are not counted). */
  converted: number;
}

// ------------------------------------------------------------------ the change table

interface SchemaChange {
  /** true: every node valid before the change means the same after it. */
  compatible: boolean;
  note: string;
}
const same = (note: string): SchemaChange => ({ compatible: true, note });
const breaking = (note: string): SchemaChange => ({ compatible: false, note });
const TYPES = same('more element types');
const NEG_AXIS = same('negative axes accepted');
const UNCHANGED = {} as const;

/**
 * For every op of the default domain that exists at some opset in 7..21: the opsets after 7
 * at which its schema changed (the version that introduced the op is not a change), checked
 * against the ONNX changelog and onnx's own version converter. An op missing here is not
 * known to the converter, and a node using it stops the upgrade.
 */
export const OPSET_CHANGES: Readonly<Record<string, Readonly<Record<number, SchemaChange>>>> = {
  Abs: { 13: TYPES },
  Acos: UNCHANGED,
  Acosh: UNCHANGED,
  Add: { 13: TYPES, 14: TYPES },
  AffineGrid: UNCHANGED,
  And: UNCHANGED,
  ArgMax: { 11: NEG_AXIS, 12: same('select_last_index, default 0'), 13: TYPES },
  ArgMin: { 11: NEG_AXIS, 12: same('select_last_index, default 0'), 13: TYPES },
  Asin: UNCHANGED,
  Asinh: UNCHANGED,
  Atan: UNCHANGED,
  Atanh: UNCHANGED,
  AveragePool: { 10: same('ceil_mode, default 0'), 11: same('output shape wording'), 19: same('dilations, default 1') },
  BatchNormalization: {
    9: breaking("attribute 'spatial' removed (per-channel statistics only)"),
    14: breaking('training outputs replaced by training_mode'),
    15: TYPES,
  },
  Bernoulli: UNCHANGED,
  BitShift: UNCHANGED,
  BitwiseAnd: UNCHANGED,
  BitwiseNot: UNCHANGED,
  BitwiseOr: UNCHANGED,
  BitwiseXor: UNCHANGED,
  BlackmanWindow: UNCHANGED,
  Cast: { 9: TYPES, 13: TYPES, 19: same('saturate (float8 only)'), 21: TYPES },
  CastLike: { 19: same('saturate (float8 only)'), 21: TYPES },
  Ceil: { 13: TYPES },
  Celu: UNCHANGED,
  CenterCropPad: UNCHANGED,
  Clip: { 11: breaking('min/max attributes became optional inputs'), 12: TYPES, 13: TYPES },
  Col2Im: UNCHANGED,
  Compress: { 11: NEG_AXIS },
  Concat: { 11: NEG_AXIS, 13: TYPES },
  ConcatFromSequence: UNCHANGED,
  Constant: { 9: TYPES, 11: same('sparse_value'), 12: same('value_* attributes'), 13: TYPES, 19: TYPES, 21: TYPES },
  ConstantOfShape: { 20: TYPES, 21: TYPES },
  Conv: { 11: same('kernel_shape inferred; wording') },
  ConvInteger: UNCHANGED,
  ConvTranspose: { 11: same('wording') },
  Cos: UNCHANGED,
  Cosh: UNCHANGED,
  CumSum: { 14: TYPES },
  DFT: { 20: breaking("attribute 'axis' (default 1) became an input (default -2)") },
  DeformConv: UNCHANGED,
  DepthToSpace: { 11: same('mode, default DCR (the old behaviour)'), 13: TYPES },
  DequantizeLinear: { 13: same('axis for per-axis scales; per-tensor unchanged'), 19: TYPES, 21: same('block_size, default 0') },
  Det: UNCHANGED,
  Div: { 13: TYPES, 14: TYPES },
  Dropout: { 10: breaking('mask output became bool'), 12: breaking("attribute 'ratio' became an input"), 13: TYPES },
  DynamicQuantizeLinear: UNCHANGED,
  Einsum: UNCHANGED,
  Elu: UNCHANGED,
  Equal: { 11: TYPES, 13: TYPES, 19: TYPES },
  Erf: { 13: TYPES },
  Exp: { 13: TYPES },
  Expand: { 13: TYPES },
  EyeLike: UNCHANGED,
  Flatten: { 9: TYPES, 11: NEG_AXIS, 13: TYPES, 21: TYPES },
  Floor: { 13: TYPES },
  GRU: { 14: same('layout, default 0') },
  Gather: { 11: same('negative indices'), 13: TYPES },
  GatherElements: { 13: TYPES },
  GatherND: { 12: same('batch_dims, default 0'), 13: TYPES },
  Gelu: UNCHANGED,
  Gemm: { 9: TYPES, 11: same('C optional'), 13: TYPES },
  GlobalAveragePool: UNCHANGED,
  GlobalLpPool: UNCHANGED,
  GlobalMaxPool: UNCHANGED,
  Greater: { 9: TYPES, 13: TYPES },
  GreaterOrEqual: { 16: TYPES },
  GridSample: { 20: breaking("modes 'bilinear'/'bicubic' renamed 'linear'/'cubic'") },
  GroupNormalization: { 21: breaking('scale and bias per channel instead of per group') },
  HammingWindow: UNCHANGED,
  HannWindow: UNCHANGED,
  HardSigmoid: UNCHANGED,
  HardSwish: UNCHANGED,
  Hardmax: { 11: NEG_AXIS, 13: breaking("'axis' selects one axis instead of coercing the input to 2-D") },
  Identity: { 13: TYPES, 14: TYPES, 16: TYPES, 19: TYPES, 21: TYPES },
  If: { 11: same('branch outputs may differ in shape'), 13: TYPES, 16: TYPES, 19: TYPES, 21: TYPES },
  ImageDecoder: UNCHANGED,
  InstanceNormalization: UNCHANGED,
  IsInf: { 20: TYPES },
  IsNaN: { 13: TYPES, 20: TYPES },
  LRN: { 13: TYPES },
  LSTM: { 14: same('layout, default 0') },
  LayerNormalization: UNCHANGED,
  LeakyRelu: { 16: TYPES },
  Less: { 9: TYPES, 13: TYPES },
  LessOrEqual: { 16: TYPES },
  Log: { 13: TYPES },
  LogSoftmax: { 11: NEG_AXIS, 13: breaking("'axis' selects one axis instead of coercing the input to 2-D") },
  Loop: { 11: same('wording'), 13: TYPES, 16: TYPES, 19: TYPES, 21: TYPES },
  LpNormalization: UNCHANGED,
  LpPool: { 11: same('wording'), 18: same('ceil_mode, default 0') },
  MatMul: { 9: TYPES, 13: TYPES },
  MatMulInteger: UNCHANGED,
  Max: { 8: same('multidirectional broadcasting'), 12: TYPES, 13: TYPES },
  MaxPool: { 8: same('storage_order, Indices output'), 10: same('ceil_mode and dilations, defaults unchanged'), 11: same('wording'), 12: TYPES },
  MaxRoiPool: UNCHANGED,
  MaxUnpool: { 11: same('wording') },
  Mean: { 8: same('multidirectional broadcasting'), 13: TYPES },
  MeanVarianceNormalization: { 9: breaking('the experimental op was replaced by one with other attributes'), 13: TYPES },
  MelWeightMatrix: UNCHANGED,
  Min: { 8: same('multidirectional broadcasting'), 12: TYPES, 13: TYPES },
  Mish: UNCHANGED,
  Mod: { 13: TYPES },
  Mul: { 13: TYPES, 14: TYPES },
  Multinomial: UNCHANGED,
  Neg: { 13: TYPES },
  NegativeLogLikelihoodLoss: { 13: TYPES },
  NonMaxSuppression: { 11: same('wording') },
  NonZero: { 13: TYPES },
  Not: UNCHANGED,
  OneHot: { 11: same('negative indices and axis') },
  Optional: UNCHANGED,
  OptionalGetElement: { 18: same('also accepts tensors') },
  OptionalHasElement: { 18: same('also accepts tensors') },
  Or: UNCHANGED,
  PRelu: { 9: TYPES, 16: TYPES },
  Pad: {
    11: breaking('pads/value attributes became inputs'),
    13: TYPES,
    18: same('optional axes input'),
    19: same("mode 'wrap'"),
    21: TYPES,
  },
  Pow: { 12: TYPES, 13: TYPES, 15: TYPES },
  QLinearConv: UNCHANGED,
  QLinearMatMul: { 21: TYPES },
  QuantizeLinear: { 13: same('axis for per-axis scales; per-tensor unchanged'), 19: TYPES, 21: same('block_size and output_dtype, defaults unchanged') },
  RNN: { 14: same('layout, default 0') },
  RandomNormal: UNCHANGED,
  RandomNormalLike: UNCHANGED,
  RandomUniform: UNCHANGED,
  RandomUniformLike: UNCHANGED,
  Range: UNCHANGED,
  Reciprocal: { 13: TYPES },
  ReduceL1: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceL2: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceLogSum: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceLogSumExp: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceMax: { 11: NEG_AXIS, 12: TYPES, 13: TYPES, 18: breaking("attribute 'axes' became an input"), 20: TYPES },
  ReduceMean: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceMin: { 11: NEG_AXIS, 12: TYPES, 13: TYPES, 18: breaking("attribute 'axes' became an input"), 20: TYPES },
  ReduceProd: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  ReduceSum: { 11: NEG_AXIS, 13: breaking("attribute 'axes' became an input") },
  ReduceSumSquare: { 11: NEG_AXIS, 13: TYPES, 18: breaking("attribute 'axes' became an input") },
  RegexFullMatch: UNCHANGED,
  Relu: { 13: TYPES, 14: TYPES },
  Reshape: { 13: TYPES, 14: same('allowzero, default 0'), 19: TYPES, 21: TYPES },
  Resize: {
    11: breaking('roi input, coordinate_transformation_mode (default half_pixel) and nearest_mode'),
    13: breaking("coordinate_transformation_mode 'tf_half_pixel_for_nn' removed"),
    18: same('antialias, axes, keep_aspect_ratio_policy; defaults unchanged'),
    19: same("coordinate_transformation_mode 'half_pixel_symmetric'"),
  },
  ReverseSequence: UNCHANGED,
  RoiAlign: { 16: breaking('coordinate_transformation_mode, default half_pixel instead of the old output_half_pixel') },
  Round: UNCHANGED,
  STFT: UNCHANGED,
  Scan: { 9: breaking('batch axis removed, scan axes added'), 11: NEG_AXIS, 16: TYPES, 19: TYPES, 21: TYPES },
  Scatter: { 11: breaking('deprecated in favour of ScatterElements') },
  ScatterElements: { 13: TYPES, 16: same('reduction, default none'), 18: same("reductions 'max'/'min'") },
  ScatterND: { 13: TYPES, 16: same('reduction, default none'), 18: same("reductions 'max'/'min'") },
  Selu: UNCHANGED,
  SequenceAt: UNCHANGED,
  SequenceConstruct: UNCHANGED,
  SequenceEmpty: UNCHANGED,
  SequenceErase: UNCHANGED,
  SequenceInsert: UNCHANGED,
  SequenceLength: UNCHANGED,
  SequenceMap: UNCHANGED,
  Shape: { 13: TYPES, 15: same('start/end, defaults whole shape'), 19: TYPES, 21: TYPES },
  Shrink: UNCHANGED,
  Sigmoid: { 13: TYPES },
  Sign: { 13: TYPES },
  Sin: UNCHANGED,
  Sinh: UNCHANGED,
  Size: { 13: TYPES, 19: TYPES, 21: TYPES },
  Slice: { 10: breaking('starts/ends/axes attributes became inputs, steps added'), 11: NEG_AXIS, 13: TYPES },
  Softmax: { 11: NEG_AXIS, 13: breaking("'axis' selects one axis instead of coercing the input to 2-D") },
  SoftmaxCrossEntropyLoss: { 13: TYPES },
  Softplus: UNCHANGED,
  Softsign: UNCHANGED,
  SpaceToDepth: { 13: TYPES },
  Split: { 11: NEG_AXIS, 13: breaking("attribute 'split' became an input"), 18: breaking('num_outputs required without a split input') },
  SplitToSequence: UNCHANGED,
  Sqrt: { 13: TYPES },
  Squeeze: { 11: NEG_AXIS, 13: breaking("attribute 'axes' became an input"), 21: TYPES },
  StringConcat: UNCHANGED,
  StringNormalizer: UNCHANGED,
  StringSplit: UNCHANGED,
  Sub: { 13: TYPES, 14: TYPES },
  Sum: { 8: same('multidirectional broadcasting'), 13: TYPES },
  Tan: UNCHANGED,
  Tanh: { 13: TYPES },
  TfIdfVectorizer: UNCHANGED,
  ThresholdedRelu: { 10: same('promoted from experimental with the same definition') },
  Tile: { 13: TYPES },
  TopK: { 10: breaking("attribute 'k' became an input"), 11: same('largest/sorted (defaults unchanged), negative axis') },
  Transpose: { 13: TYPES, 21: TYPES },
  Trilu: UNCHANGED,
  Unique: UNCHANGED,
  Unsqueeze: { 11: NEG_AXIS, 13: breaking("attribute 'axes' became an input"), 21: TYPES },
  Upsample: { 9: breaking("attribute 'scales' became an input"), 10: breaking('deprecated in favour of Resize') },
  Where: { 16: TYPES },
  Xor: UNCHANGED,
  // Experimental ops dropped from ONNX that onnxruntime keeps registered at every opset.
  Affine: UNCHANGED,
  Crop: UNCHANGED,
  DynamicSlice: UNCHANGED,
  ImageScaler: UNCHANGED,
  ParametricSoftplus: UNCHANGED,
  ScaledTanh: UNCHANGED,
};

/** Lowest IR version that may declare each opset (onnx's release table). */
const MIN_IR_VERSION: Readonly<Record<number, number>> = {
  7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10,
};

// ------------------------------------------------------------------ entry points

/**
 * Upgrade the default-domain opset of `model` to `target`, in place. Every node (in
 * subgraphs and model-local functions too) whose op changed incompatibly on the way is
 * rewritten; all checks run before anything changes, so a failure leaves the model as it
 * was. The IR version is raised to the lowest one that may declare the target opset.
 */
export function upgradeOpset(model: Model, target: number): UpgradeResult {
  if (!Number.isInteger(target) || target < MIN_UPGRADE_OPSET || target > MAX_UPGRADE_OPSET) {
    throw new SplitcError('E_OPSET', `cannot upgrade to opset ${target}`, {
      hint: `targets from ${MIN_UPGRADE_OPSET} to ${MAX_UPGRADE_OPSET} are supported (${MAX_UPGRADE_OPSET} is the newest onnxruntime-node 1.30 runs)`,
    });
  }
  const from = model.opset;
  if (target <= from) return { from, to: from, converted: 0 };
  checkSource(from, 'the model');

  const finalIr = Math.max(model.irVersion, MIN_IR_VERSION[target] ?? model.irVersion);
  const plans: Apply[] = [];
  planScope(model.graph, { from, to: target, facts: new TypeFacts(model), initializers: finalIr >= 4 }, plans);
  const functionUpdates: (() => void)[] = [];
  for (const f of model.functions) {
    const key = defaultDomainKey(f.opsetImports);
    const fFrom = key === undefined ? undefined : f.opsetImports.get(key);
    if (key === undefined || fFrom === undefined || fFrom >= target) continue;
    checkSource(fFrom, `function ${f.domain}.${f.name}`);
    planScope(f.body, { from: fFrom, to: target, facts: TypeFacts.none, initializers: false }, plans);
    functionUpdates.push(() => f.opsetImports.set(key, target));
  }

  // Every check passed: only now does the model change.
  for (const apply of plans) apply();
  for (const update of functionUpdates) update();
  model.opsetImports.set(defaultDomainKey(model.opsetImports) ?? '', target);
  model.irVersion = finalIr;
  return { from, to: target, converted: plans.length };
}

/** `upgrade-opset{to=17}` in pipelines. */
export function upgradeOpsetPass(options: Record<string, string> = {}): Pass {
  for (const k of Object.keys(options)) {
    if (k !== 'to') throw new SplitcError('E_BAD_ARGUMENT', `unknown option '${k}' of pass 'upgrade-opset'`, { hint: 'upgrade-opset takes to=N' });
  }
  const to = Number(options.to);
  if (options.to === undefined || !Number.isInteger(to)) {
    throw new SplitcError('E_BAD_ARGUMENT', `pass 'upgrade-opset' needs to=N (an opset), got '${options.to ?? ''}'`, { hint: `e.g. upgrade-opset{to=${MAX_UPGRADE_OPSET}}` });
  }
  return {
    name: 'upgrade-opset',
    options,
    inPlace: true,
    run: (model) => {
      const r = upgradeOpset(model, to);
      return { model, modified: r.to !== r.from };
    },
  };
}

registerPass('upgrade-opset', upgradeOpsetPass);

function checkSource(from: number, what: string): void {
  if (from < MIN_UPGRADE_OPSET) {
    throw new SplitcError('E_OPSET', `${what} uses opset ${from}; upgrades start at opset ${MIN_UPGRADE_OPSET}`, {
      hint: 'opsets before 7 have other broadcasting and attribute rules; re-export the model at a newer opset',
    });
  }
}

function defaultDomainKey(imports: Map<string, number>): string | undefined {
  if (imports.has('')) return '';
  if (imports.has('ai.onnx')) return 'ai.onnx';
  return undefined;
}

function isDefaultDomain(d: string): boolean {
  return d === '' || d === 'ai.onnx';
}

// ------------------------------------------------------------------ planning

/** A planned rewrite of one node: runs only after every node has been checked. */
type Apply = () => void;

interface ScopeOptions {
  from: number;
  to: number;
  facts: TypeFacts;
  /** Constants of the top graph as initializers (else Constant nodes). */
  initializers: boolean;
}

/** Plan the rewrites of a graph and its subgraphs (one name scope). */
function planScope(root: Graph, opts: ScopeOptions, plans: Apply[]): void {
  const names = new NameScope(root);
  for (const g of allGraphs(root)) {
    const emit = new Emitter(g, names, opts.initializers && g === root);
    for (const n of g.nodes) {
      if (!isDefaultDomain(n.domain)) continue;
      const p = planNode(n, new UpgradeContext(n, opts, emit));
      if (p) plans.push(p);
    }
  }
}

function planNode(n: Node, cx: UpgradeContext): Apply | null {
  const changes = Object.hasOwn(OPSET_CHANGES, n.opType) ? OPSET_CHANGES[n.opType]! : undefined;
  if (!changes) {
    throw cx.error(`${n.describe()}: '${n.opType}' is not an op of the default ONNX domain known to the opset converter`, {
      hint: 'give it its own domain if it is a custom op, or upgrade a model that uses only standard ops',
    });
  }
  const crossed = Object.keys(changes)
    .map(Number)
    .filter((v) => cx.crosses(v))
    .sort((a, b) => a - b);
  const firstBreaking = crossed.find((v) => !changes[v]!.compatible);
  if (firstBreaking === undefined) return null;
  const upgrader = Object.hasOwn(UPGRADERS, n.opType) ? UPGRADERS[n.opType] : undefined;
  if (!upgrader) throw cx.unsupported(firstBreaking, changes[firstBreaking]!.note);
  return upgrader(n, cx);
}

class UpgradeContext {
  constructor(
    readonly node: Node,
    private readonly opts: ScopeOptions,
    readonly emit: Emitter,
  ) {}
  get from(): number {
    return this.opts.from;
  }
  get to(): number {
    return this.opts.to;
  }
  get facts(): TypeFacts {
    return this.opts.facts;
  }
  /** Whether the upgrade passes the op change at `version`. */
  crosses(version: number): boolean {
    return this.opts.from < version && version <= this.opts.to;
  }
  error(message: string, opts: { hint: string }): SplitcError {
    return new SplitcError('E_OPSET', message, { hint: opts.hint, location: this.node.graph ? `graph '${this.node.graph.name}'` : undefined });
  }
  /** The op changed at `version` in a way this node cannot be rewritten across. */
  unsupported(version: number, what: string, why?: string): SplitcError {
    const n = this.node;
    return this.error(
      `${n.describe()}: ${n.opType} changed at opset ${version} (${what})${why ? `: ${why}` : ''}; cannot upgrade it from opset ${this.from} to ${this.to}`,
      { hint: `upgrade to opset ${version - 1} at most, or re-export the model at opset ${version} or newer` },
    );
  }
}

// ------------------------------------------------------------------ the rewrites

/** Checks a node (throwing E_OPSET) and returns its rewrite, or null when it needs none. */
type Upgrader = (n: Node, cx: UpgradeContext) => Apply | null;

const softmaxFamily: Upgrader = (n, cx) => {
  const x = n.inputs[0];
  if (!x) throw cx.unsupported(13, 'axis semantics', 'it has no input');
  const axis = n.attrInt('axis', 1); // default 1 before opset 13, -1 from 13
  const shape = cx.facts.shape(x);
  const dtype = cx.facts.dtype(x);
  if (shape) {
    const a = axis < 0 ? axis + shape.length : axis;
    // Over the last axis, "coerce to 2-D at axis" and "along axis" are the same computation.
    if (a === shape.length - 1) return n.attr('axis') ? null : () => n.setAttr(attr.int('axis', axis));
  }
  // Else: Flatten(axis) → op(axis=1) → Reshape to Shape(x), which is the old definition.
  return () => {
    const { emit } = cx;
    const base = baseName(n);
    const flatShape = shape ? flattenedShape(shape, axis) : [null, null];
    const flat = emit.node(n, 'Flatten', [x], [attr.int('axis', axis)], base + '.2d', typeOf(dtype, flatShape));
    const result2d = emit.node(n, n.opType, [flat], [attr.int('axis', 1)], base + '.2d_out', typeOf(dtype, flatShape), n.name);
    const shapeOfX = emit.node(n, 'Shape', [x], [], base + '.shape', tensorType(DataType.INT64, [shape ? shape.length : null]));
    // The original node becomes the Reshape, so its output (and every use of it) stays.
    n.opType = 'Reshape';
    n.name = emit.fresh(`${base}/Reshape`);
    n.attributes.clear();
    if (cx.to >= 14) n.setAttr(attr.int('allowzero', 1)); // a 0 in Shape(x) is a real 0
    setInputs(n, [result2d, shapeOfX]);
  };
};

const clip: Upgrader = (n, cx) => {
  if (!cx.crosses(11)) return null;
  const x = n.inputs[0] ?? null;
  const lo = n.attr('min') ? n.attrFloat('min', 0) : undefined;
  const hi = n.attr('max') ? n.attrFloat('max', 0) : undefined;
  const dtype = x ? cx.facts.dtype(x) : null;
  if ((lo !== undefined || hi !== undefined) && !isClip6Dtype(dtype)) {
    throw cx.unsupported(11, 'min/max became inputs of the input element type', dtype === null ? 'the input element type is unknown' : `its input is ${dtypeName(dtype)}, not a float type`);
  }
  return () => {
    const base = baseName(n);
    // Clip-6's missing bounds are float32's limits; for double inputs they must be explicit.
    const FLT_MAX = 3.4028234663852886e38;
    const loV = lo ?? (dtype === DataType.DOUBLE ? -FLT_MAX : undefined);
    const hiV = hi ?? (dtype === DataType.DOUBLE ? FLT_MAX : undefined);
    const minIn = loV === undefined ? null : cx.emit.constant(n, base + '.min', floatTensor(dtype!, [], [loV]));
    const maxIn = hiV === undefined ? null : cx.emit.constant(n, base + '.max', floatTensor(dtype!, [], [hiV]));
    n.attributes.delete('min');
    n.attributes.delete('max');
    setInputs(n, [x, minIn, maxIn]);
  };
};

const slice: Upgrader = (n, cx) => {
  if (!cx.crosses(10)) return null;
  const starts = rawInts(n, 'starts');
  const ends = rawInts(n, 'ends');
  const axes = rawInts(n, 'axes');
  if (!starts || !ends) throw cx.unsupported(10, 'bounds became inputs', "its 'starts' or 'ends' attribute is missing");
  return () => {
    const base = baseName(n);
    const s = cx.emit.constant(n, base + '.starts', int64Tensor([starts.length], starts));
    const e = cx.emit.constant(n, base + '.ends', int64Tensor([ends.length], ends));
    const a = axes ? cx.emit.constant(n, base + '.axes', int64Tensor([axes.length], axes)) : null;
    for (const k of ['starts', 'ends', 'axes']) n.attributes.delete(k);
    setInputs(n, [n.inputs[0] ?? null, s, e, a]);
  };
};

const pad: Upgrader = (n, cx) => {
  if (!cx.crosses(11)) return null;
  const pads = rawInts(n, 'pads');
  if (!pads) throw cx.unsupported(11, 'pads became an input', "its 'pads' attribute is missing");
  const x = n.inputs[0] ?? null;
  const mode = n.attrString('mode', 'constant');
  const value = n.attrFloat('value', 0);
  // +0 is the default fill; anything else (-0 too) must be passed in x's element type.
  const needsValue = mode === 'constant' && !Object.is(value, 0);
  const dtype = x ? cx.facts.dtype(x) : null;
  if (needsValue && !isClip6Dtype(dtype)) {
    throw cx.unsupported(11, 'the fill value became an input of the input element type', dtype === null ? 'the input element type is unknown' : `its input is ${dtypeName(dtype)}, not a float type`);
  }
  return () => {
    const base = baseName(n);
    const p = cx.emit.constant(n, base + '.pads', int64Tensor([pads.length], pads));
    const v = needsValue ? cx.emit.constant(n, base + '.value', floatTensor(dtype!, [], [value])) : null;
    n.attributes.delete('pads');
    n.attributes.delete('value');
    setInputs(n, [x, p, v]);
  };
};

/** `axes` attribute → optional int64 input at `version` (Squeeze, Unsqueeze, Reduce*). */
function axesToInput(version: number, required: boolean): Upgrader {
  return (n, cx) => {
    if (!cx.crosses(version)) return null;
    const axes = rawInts(n, 'axes');
    if (!axes) {
      if (required) throw cx.unsupported(version, 'axes became an input', "its 'axes' attribute is missing");
      return null; // no axes: all axes (Reduce*), all size-1 axes (Squeeze), before and after
    }
    return () => {
      const a = cx.emit.constant(n, baseName(n) + '.axes', int64Tensor([axes.length], axes));
      n.attributes.delete('axes');
      setInputs(n, [n.inputs[0] ?? null, a]);
    };
  };
}

const split: Upgrader = (n, cx) => {
  const splitAttr = cx.from < 13 ? rawInts(n, 'split') : undefined;
  const moveSplit = cx.crosses(13) && splitAttr !== undefined;
  const hasSplit = splitAttr !== undefined || (cx.from >= 13 && !!n.inputs[1]);
  // From 18 a Split without sizes must say how many parts it makes.
  const addNumOutputs = cx.crosses(18) && !hasSplit && !n.attr('num_outputs');
  if (!moveSplit && !addNumOutputs) return null;
  return () => {
    if (moveSplit) {
      const s = cx.emit.constant(n, baseName(n) + '.split', int64Tensor([splitAttr.length], splitAttr));
      n.attributes.delete('split');
      setInputs(n, [n.inputs[0] ?? null, s]);
    }
    if (addNumOutputs) n.setAttr(attr.int('num_outputs', n.outputs.length));
  };
};

const topK: Upgrader = (n, cx) => {
  if (!cx.crosses(10)) return null;
  const k = rawInts(n, 'k');
  if (!k || k.length !== 1) throw cx.unsupported(10, 'k became an input', "its 'k' attribute is missing");
  return () => {
    const kIn = cx.emit.constant(n, baseName(n) + '.k', int64Tensor([1], k));
    n.attributes.delete('k');
    setInputs(n, [n.inputs[0] ?? null, kIn]);
  };
};

const dropout: Upgrader = (n, cx) => {
  const mask = n.outputs[1];
  const maskUsed = !!mask && !!mask.name && (mask.uses().length > 0 || usedAsGraphOutput(mask));
  if (cx.crosses(10) && maskUsed) throw cx.unsupported(10, 'the mask output became bool', 'its mask output is used');
  const ratio = cx.crosses(12) && n.attr('ratio') ? n.attrFloat('ratio', 0.5) : undefined;
  const retypeMask = cx.crosses(10) && !!mask?.tensorType && mask.tensorType.dtype !== DataType.BOOL;
  if (ratio === undefined && !retypeMask && !n.attr('is_test')) return null;
  return () => {
    n.attributes.delete('is_test');
    if (retypeMask) mask!.type = tensorType(DataType.BOOL, mask!.shape ? [...mask!.shape] : null);
    if (ratio !== undefined) {
      // The ratio input has its own type (T1); float32 holds the attribute exactly.
      const r = cx.emit.constant(n, baseName(n) + '.ratio', floatTensor(DataType.FLOAT, [], [ratio]));
      n.attributes.delete('ratio');
      setInputs(n, [n.inputs[0] ?? null, r]);
    }
  };
};

const batchNormalization: Upgrader = (n, cx) => {
  const spatial = n.attr('spatial') ? n.attrInt('spatial', 1) : undefined;
  if (cx.crosses(9) && spatial !== undefined && spatial !== 1) {
    throw cx.unsupported(9, "attribute 'spatial' removed", `it has spatial=${spatial} (per-element statistics)`);
  }
  const extraOutputs = cx.crosses(14) ? n.outputs.slice(1) : [];
  const used = extraOutputs.find((v) => v.name && (v.uses().length > 0 || usedAsGraphOutput(v)));
  if (used) throw cx.unsupported(14, 'training outputs replaced', `its training output '${used.name}' is used`);
  const dropAttrs = ['spatial', 'is_test', 'consumed_inputs'].filter((k) => n.attr(k));
  if (dropAttrs.length === 0 && extraOutputs.length === 0) return null;
  return () => {
    for (const k of dropAttrs) n.attributes.delete(k);
    if (extraOutputs.length) keepFirstOutput(n);
  };
};

const scatter: Upgrader = (n, cx) => (cx.crosses(11) ? () => void (n.opType = 'ScatterElements') : null);

const roiAlign: Upgrader = (n, cx) => {
  if (!cx.crosses(16) || n.attr('coordinate_transformation_mode')) return null;
  return () => n.setAttr(attr.string('coordinate_transformation_mode', 'output_half_pixel'));
};

const gridSample: Upgrader = (n, cx) => {
  const renamed: Record<string, string> = { bilinear: 'linear', bicubic: 'cubic' };
  const mode = n.attrString('mode');
  if (!cx.crosses(20) || mode === undefined || !renamed[mode]) return null;
  return () => n.setAttr(attr.string('mode', renamed[mode]!));
};

const dft: Upgrader = (n, cx) => {
  if (!cx.crosses(20)) return null;
  const axis = n.attrInt('axis', 1); // the new input defaults to -2: pass the old default explicitly
  return () => {
    const a = cx.emit.constant(n, baseName(n) + '.axis', int64Tensor([], [axis]));
    n.attributes.delete('axis');
    setInputs(n, [n.inputs[0] ?? null, n.inputs[1] ?? null, a]);
  };
};

/**
 * Upsample → Upsample-9 (scales input) or Resize. Upsample only enlarges (scales ≥ 1), and
 * onnxruntime maps output x to input floor(x / scale) (nearest) or interpolates at x / scale
 * (linear): Resize's 'asymmetric' transform with nearest_mode 'floor'.
 */
const upsample: Upgrader = (n, cx) => {
  const mode = n.attrString('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') throw cx.unsupported(cx.to >= 10 ? 10 : 9, 'replaced by Resize', `mode '${mode}' is not nearest or linear`);
  const scalesAttr = cx.from < 9 ? n.attrFloats('scales') : undefined;
  if (cx.from < 9 && !scalesAttr) throw cx.unsupported(9, 'scales became an input', "its 'scales' attribute is missing");
  if (cx.from >= 9 && !n.inputs[1]) throw cx.unsupported(10, 'replaced by Resize', 'it has no scales input');
  return () => {
    const x = n.inputs[0] ?? null;
    const scales = scalesAttr ? cx.emit.constant(n, baseName(n) + '.scales', floatTensor(DataType.FLOAT, [scalesAttr.length], scalesAttr)) : n.inputs[1]!;
    n.attributes.delete('scales');
    if (cx.to === 9) return setInputs(n, [x, scales]);
    n.opType = 'Resize';
    if (cx.to === 10) return setInputs(n, [x, scales]);
    setInputs(n, [x, roiInput(n, cx), scales]);
    n.setAttr(attr.string('coordinate_transformation_mode', 'asymmetric'));
    if (mode === 'nearest') n.setAttr(attr.string('nearest_mode', 'floor'));
  };
};

/**
 * Resize-10 → 11+: Resize-10 had only the 'asymmetric' transform (x / scale). Its nearest
 * pixel, in onnxruntime and in onnx's reference tests, is floor(x / scale) along enlarged
 * axes and ceil(x / scale) along shrunk ones; one node has one nearest_mode, so a Resize
 * that enlarges some axes and shrinks others becomes two. From 11 → 13: only the removed
 * 'tf_half_pixel_for_nn' transform matters.
 */
const resize: Upgrader = (n, cx) => {
  if (cx.from >= 11) {
    const ctm = n.attrString('coordinate_transformation_mode', 'half_pixel');
    if (cx.crosses(13) && ctm === 'tf_half_pixel_for_nn') throw cx.unsupported(13, "'tf_half_pixel_for_nn' removed", 'it uses that transform');
    return null;
  }
  const mode = n.attrString('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') throw cx.unsupported(11, 'new attributes', `mode '${mode}' is not nearest or linear`);
  const scales = n.inputs[1];
  if (!scales) throw cx.unsupported(11, 'roi input added', 'it has no scales input');
  let rounding: { up: number[] | null; down: number[] | null } = { up: null, down: null };
  if (mode === 'nearest') {
    const t = constantOf(scales);
    const s = t && t.dtype === DataType.FLOAT ? t.toNumbers() : null;
    if (!s) {
      throw cx.unsupported(11, 'nearest_mode added', 'its scales are computed at run time, so whether each axis rounds up (shrinking) or down (enlarging) is unknown');
    }
    const up = s.some((v) => v > 1);
    const down = s.some((v) => v < 1);
    rounding = {
      up: up ? s.map((v) => (v >= 1 ? v : 1)) : null,
      down: down ? s.map((v) => (v < 1 ? v : 1)) : null,
    };
  }
  const x = n.inputs[0] ?? null;
  const xShape = x ? cx.facts.shape(x) : null;
  const dtype = x ? cx.facts.dtype(x) : null;
  return () => {
    const roi = roiInput(n, cx);
    const asymmetric = attr.string('coordinate_transformation_mode', 'asymmetric');
    let input = x;
    let scalesIn: Value = scales;
    if (rounding.up && rounding.down) {
      // Nearest-neighbour selection is separable: enlarge (floor), then shrink (ceil).
      const base = baseName(n);
      const upScales = cx.emit.constant(n, base + '.scales_up', floatTensor(DataType.FLOAT, [rounding.up.length], rounding.up));
      input = cx.emit.node(n, 'Resize', [x, roi, upScales], [attr.string('mode', 'nearest'), asymmetric, attr.string('nearest_mode', 'floor')], base + '.enlarged', typeOf(dtype, xShape ? xShape.map(() => null) : null));
      scalesIn = cx.emit.constant(n, base + '.scales_down', floatTensor(DataType.FLOAT, [rounding.down.length], rounding.down));
    }
    setInputs(n, [input, roi, scalesIn]);
    n.setAttr(asymmetric);
    if (mode === 'nearest') n.setAttr(attr.string('nearest_mode', rounding.down ? 'ceil' : 'floor'));
  };
};

export const UPGRADERS: Readonly<Record<string, Upgrader>> = {
  BatchNormalization: batchNormalization,
  Clip: clip,
  DFT: dft,
  Dropout: dropout,
  GridSample: gridSample,
  Hardmax: softmaxFamily,
  LogSoftmax: softmaxFamily,
  Pad: pad,
  ReduceL1: axesToInput(18, false),
  ReduceL2: axesToInput(18, false),
  ReduceLogSum: axesToInput(18, false),
  ReduceLogSumExp: axesToInput(18, false),
  ReduceMax: axesToInput(18, false),
  ReduceMean: axesToInput(18, false),
  ReduceMin: axesToInput(18, false),
  ReduceProd: axesToInput(18, false),
  ReduceSum: axesToInput(13, false),
  ReduceSumSquare: axesToInput(18, false),
  Resize: resize,
  RoiAlign: roiAlign,
  Scatter: scatter,
  Slice: slice,
  Softmax: softmaxFamily,
  Split: split,
  Squeeze: axesToInput(13, false),
  TopK: topK,
  Unsqueeze: axesToInput(13, true),
  Upsample: upsample,
};

// ------------------------------------------------------------------ helpers

/** Resize's roi: required (empty) at opsets 11 and 12, omitted from 13. */
function roiInput(n: Node, cx: UpgradeContext): Value | null {
  return cx.to >= 13 ? null : cx.emit.constant(n, baseName(n) + '.roi', floatTensor(DataType.FLOAT, [0], []));
}

function baseName(n: Node): string {
  return n.name || n.outputs[0]?.name || n.opType;
}

/** Replace all inputs, dropping trailing omitted ones. */
function setInputs(n: Node, inputs: (Value | null)[]): void {
  let end = inputs.length;
  while (end > 0 && !inputs[end - 1]) end--;
  n.dropInputs();
  for (let i = 0; i < end; i++) n.appendInput(inputs[i]!);
}

function rawInts(n: Node, name: string): Int[] | undefined {
  const a = n.attr(name);
  if (a?.type === AttrType.INTS) return a.value;
  if (a?.type === AttrType.INT) return [a.value];
  return undefined;
}

function int64Tensor(dims: number[], values: readonly Int[]): { dtype: DataType; dims: number[]; data: TypedArray } {
  return { dtype: DataType.INT64, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function floatTensor(dtype: DataType, dims: number[], values: readonly number[]): { dtype: DataType; dims: number[]; data: TypedArray } {
  if (dtype === DataType.DOUBLE) return { dtype, dims, data: Float64Array.from(values) };
  if (dtype === DataType.FLOAT16) return { dtype, dims, data: Uint16Array.from(values, halfBits) };
  return { dtype: DataType.FLOAT, dims, data: Float32Array.from(values) };
}

/** The element types of Clip-6 and Pad-2 (their attributes are converted to these). */
function isClip6Dtype(dt: DataType | null): boolean {
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16;
}

/** IEEE half bits of a number, rounding to nearest even (via float32, as the attribute was). */
function halfBits(x: number): number {
  const u = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let h: number;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    shift = 14 - e;
    h = mant >>> shift;
  } else {
    h = (e << 10) | (mant >>> 13);
  }
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && h & 1)) h++; // a carry into the exponent is still right
  return sign | h;
}

/** A type for a new value when its element type and rank are known (else none: value_info needs a shape). */
function typeOf(dtype: DataType | null, shape: Shape | null): TensorType | null {
  return dtype && shape ? tensorType(dtype, shape) : null;
}

/** Shape of Flatten(x, axis): [prod(dims before axis), prod(dims from axis)]. */
function flattenedShape(shape: Shape, axis: number): Shape {
  const a = axis < 0 ? axis + shape.length : axis;
  const prod = (dims: Shape): number | null => (dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((p, d) => p * d, 1) : null);
  return [prod(shape.slice(0, a)), prod(shape.slice(a))];
}

/** Whether `v` is an output of its graph or of a subgraph nested in it (which may name outer values). */
function usedAsGraphOutput(v: Value): boolean {
  if (!v.graph) return false;
  for (const g of allGraphs(v.graph)) if (g.outputs.includes(v)) return true;
  return false;
}

/** Rebuild `n` with only its first output (Values cannot leave their producer). */
function keepFirstOutput(n: Node): void {
  const y = n.outputs[0]!;
  const g = n.graph!;
  const y2 = new Value(y.name, y.type);
  y2.docString = y.docString;
  y2.typeFromFile = y.typeFromFile;
  const copy = new Node(n.domain, n.opType, n.inputs, [y2], { name: n.name, attributes: [...n.attributes.values()] });
  copy.overload = n.overload;
  copy.docString = n.docString;
  copy.extra = n.extra;
  g.nodes.insertBefore(n, copy);
  y.replaceAllUsesWith(y2); // node inputs everywhere, and the outputs of g
  for (const sg of allGraphs(g)) sg.outputs.forEach((v, i) => v === y && (sg.outputs[i] = y2));
  g.removeNode(n);
  for (const v of n.outputs) v.name = '';
}

// ------------------------------------------------------------------ names and insertion

/** Names of values and nodes in a graph and its subgraphs (ONNX names are unique across them). */
class NameScope {
  private readonly taken = new Set<string>();
  constructor(root: Graph) {
    for (const g of allGraphs(root)) {
      for (const v of g.definedValues()) this.taken.add(v.name);
      for (const v of g.outputs) this.taken.add(v.name);
      for (const n of g.nodes) {
        if (n.name) this.taken.add(n.name);
        for (const v of n.inputs) if (v) this.taken.add(v.name);
      }
    }
  }
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }
}

/** Inserts constants and single-output nodes before a given node of one graph. */
class Emitter {
  constructor(
    readonly graph: Graph,
    private readonly names: NameScope,
    /** Constants as initializers (top graph, IR ≥ 4); else Constant nodes. */
    private readonly initializers: boolean,
  ) {}

  fresh(base: string): string {
    return this.names.fresh(base);
  }

  constant(before: Node, base: string, t: { dtype: DataType; dims: number[]; data: TypedArray }): Value {
    const name = this.fresh(base);
    const tensor = Tensor.fromArray(name, t.dtype, t.dims, t.data);
    const type = tensorType(t.dtype, [...t.dims]);
    if (this.initializers) return this.graph.addInitializer(new Value(name, type), tensor);
    const out = new Value(name, type);
    this.graph.nodes.insertBefore(before, new Node('', 'Constant', [], [out], { name: this.fresh(`${name}/Constant`), attributes: [attr.tensor('value', tensor)] }));
    return out;
  }

  node(before: Node, opType: string, inputs: (Value | null)[], attributes: Attribute[], outBase: string, type: TensorType | null, nodeName?: string): Value {
    const out = new Value(this.fresh(outBase), type);
    const name = nodeName || this.fresh(`${outBase}/${opType}`);
    this.graph.nodes.insertBefore(before, new Node('', opType, inputs, [out], { name, attributes }));
    return out;
  }
}

// ------------------------------------------------------------------ type facts

/**
 * Element types and shapes of values: as declared, else as shape inference finds them on a
 * copy of the model (the model itself is not annotated). Queried only while planning.
 */
class TypeFacts {
  static readonly none = new TypeFacts(null);
  private inferred: Map<Value, Value> | null | undefined;
  constructor(private readonly model: Model | null) {}

  dtype(v: Value): DataType | null {
    const dt = v.tensorType?.dtype || this.copyOf(v)?.tensorType?.dtype;
    return dt || null;
  }
  shape(v: Value): Shape | null {
    return v.tensorType?.shape ?? this.copyOf(v)?.tensorType?.shape ?? null;
  }

  private copyOf(v: Value): Value | null {
    if (this.inferred === undefined) this.inferred = this.infer();
    return this.inferred?.get(v) ?? null;
  }

  private infer(): Map<Value, Value> | null {
    if (!this.model) return null;
    const map = new Map<Value, Value>();
    try {
      const copy = new Model(cloneGraph(this.model.graph, map), this.model.irVersion);
      copy.opsetImports.clear();
      for (const [d, v] of this.model.opsetImports) copy.opsetImports.set(d, v);
      copy.functions = this.model.functions;
      inferShapes(copy, { ctx: new PassContext() });
      return map;
    } catch (e) {
      if (e instanceof SplitcError) return null; // a graph the copy cannot take: declared types only
      throw e;
    }
  }
}
