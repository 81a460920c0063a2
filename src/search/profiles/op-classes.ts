// Op classes: ONNX op types grouped by what bounds their latency, each class with its own
// regression in a device profile.

import { OP_CLASSES, type OpClass } from './types.js';

// ---------------------------------------------------------------- op classes

/**
 * ONNX op types (default domain, plus onnxruntime's com.microsoft fused/contrib ops, whose
 * names appear in onnxruntime profiles) grouped by what bounds their latency. Anything not
 * listed is 'other' and uses the profile's `default` coefficients.
 */
const OP_CLASS_TABLE: Record<Exclude<OpClass, 'other'>, readonly string[]> = {
  conv: ['Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'DeformConv', 'FusedConv', 'NhwcConv', 'NhwcFusedConv'],
  matmul: [
    'MatMul', 'Gemm', 'MatMulInteger', 'QLinearMatMul', 'Einsum',
    'FusedMatMul', 'FusedGemm', 'QGemm', 'MatMulNBits', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul',
    'Attention', 'MultiHeadAttention', 'GroupQueryAttention',
    // Recurrent cells are dominated by their gate matrix products.
    'RNN', 'GRU', 'LSTM',
  ],
  elementwise: [
    'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Exp', 'Log', 'Abs', 'Neg', 'Reciprocal',
    'Floor', 'Ceil', 'Round', 'Sign', 'Mod', 'Where', 'Max', 'Min', 'Mean', 'Sum',
    'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not',
    'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitwiseNot',
    'Cast', 'CastLike', 'IsNaN', 'IsInf',
    'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh',
    'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearAdd', 'QLinearMul', 'BiasAdd',
  ],
  activation: [
    'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh',
    'Softmax', 'LogSoftmax', 'Hardmax', 'Softplus', 'Softsign', 'Erf', 'Gelu', 'Elu', 'Selu', 'Celu',
    'ThresholdedRelu', 'Mish', 'Clip', 'Shrink',
    'FastGelu', 'BiasGelu', 'QuickGelu', 'BiasSoftmax', 'QLinearLeakyRelu', 'QLinearSigmoid',
  ],
  pool: [
    'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool',
    'MaxRoiPool', 'RoiAlign', 'MaxUnpool', 'QLinearAveragePool', 'QLinearGlobalAveragePool', 'NhwcMaxPool',
  ],
  norm: [
    'BatchNormalization', 'LayerNormalization', 'InstanceNormalization', 'GroupNormalization',
    'LpNormalization', 'MeanVarianceNormalization', 'LRN', 'RMSNormalization',
    'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'EmbedLayerNormalization',
  ],
  resize: ['Resize', 'Upsample', 'GridSample'],
  reduce: [
    'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2',
    'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare', 'ArgMax', 'ArgMin', 'CumSum', 'TopK',
  ],
  data: [
    'Reshape', 'Transpose', 'Concat', 'Split', 'Slice', 'Gather', 'GatherElements', 'GatherND',
    'Scatter', 'ScatterElements', 'ScatterND', 'Squeeze', 'Unsqueeze', 'Flatten', 'Expand', 'Pad',
    'Shape', 'Size', 'Identity', 'Tile', 'Constant', 'ConstantOfShape', 'Range',
    'DepthToSpace', 'SpaceToDepth', 'Trilu', 'OneHot', 'NonZero', 'Compress', 'ReverseSequence', 'EyeLike',
    // Dropout is an identity at inference; ReorderInput/Output are onnxruntime's NCHWc layout copies.
    'Dropout', 'ReorderInput', 'ReorderOutput',
  ],
};

const OP_CLASS_BY_TYPE: ReadonlyMap<string, OpClass> = (() => {
  const m = new Map<string, OpClass>();
  for (const cls of OP_CLASSES) {
    if (cls === 'other') continue;
    for (const op of OP_CLASS_TABLE[cls]) {
      // A duplicate would make the class depend on table order: a bug in this file.
      if (m.has(op)) throw new Error(`op type ${op} is listed in both ${m.get(op)} and ${cls}`);
      m.set(op, cls);
    }
  }
  return m;
})();

/** The latency class of an op type; unknown op types are 'other'. */
export function opClassOf(opType: string): OpClass {
  return OP_CLASS_BY_TYPE.get(opType) ?? 'other';
}

/** The op types listed for a class (empty for 'other'), in table order. */
export function opTypesOfClass(cls: OpClass): readonly string[] {
  return cls === 'other' ? [] : OP_CLASS_TABLE[cls];
}

// Runtimes turn Constant nodes into initializers and never run them, so they cost nothing
// (a measured table never lists them and the regression would charge them msFixed each).
export const NOT_RUN_OP_TYPES: ReadonlySet<string> = new Set(['Constant']);
