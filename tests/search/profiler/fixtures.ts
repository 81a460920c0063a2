// What the profiler tests share: the classifier fixture, fast repeat counts, and a model whose
// work runs inside If and Loop subgraphs.
import { constantPredicate, isConstantNode } from '../../../src/ir/constants.js';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph, Model, Value, tensorType } from '../../../src/ir/graph.js';
import { loadModel } from '../../../src/ir/serde/io.js';
import { fixtures } from '../../helpers/fixtures.js';

export const cls = fixtures().find((f) => f.file.startsWith('ch_ppocr_mobile_v2.0_cls'))!;
export const clsSha = '491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640';
export const FAST = { warmup: 1, repeats: 3 } as const;
/** profileModel without the minimum phase duration (runProfile has no such option: its calls take the default second). */
export const FAST_PROFILE = { ...FAST, minPhaseMs: 0 } as const;

export function computeNodeNames(file: string): string[] {
  // Constants and folds of constants only (PaddleOCR's Cast of a fill_constant) are not run.
  const m = loadModel(file);
  const isConst = constantPredicate();
  return [...m.graph.nodes].filter((n) => !isConstantNode(n, isConst)).map((n) => n.name);
}

/**
 * x[64,64] → ReduceSum → Greater 0 → If { then: MatMul + Add (inside a Loop of 2 trips of a
 * MatMul, nested); else: MatMul } → Loop (4 trips of a MatMul) → Relu: real work inside
 * subgraphs, on a data-dependent condition.
 */
export function controlFlowModel(): Model {
  const F = DataType.FLOAT;
  const I64 = DataType.INT64;
  const B = DataType.BOOL;
  const b = new GraphBuilder();
  const x = b.input('x', F, [64, 64]);
  const sum = b.op('ReduceSum', [x], { keepdims: 0 }, { name: 'sum' });
  const cond = b.op('Greater', [sum, b.init('zero', F, [], [0])], {}, { name: 'positive' });
  const loopBody = (prefix: string, w: Value): Graph => {
    const body = new GraphBuilder(`${prefix}_body`);
    body.graph.addInput(new Value(`${prefix}_i`, tensorType(I64, [])));
    const condIn = body.graph.addInput(new Value(`${prefix}_cond_in`, tensorType(B, [])));
    const vIn = body.graph.addInput(new Value(`${prefix}_v_in`, tensorType(F, [64, 64])));
    body.output(body.op('Identity', [condIn], {}, { outputNames: [`${prefix}_cond_out`], name: `${prefix}_cond` }));
    body.output(body.op('MatMul', [vIn, w], {}, { outputNames: [`${prefix}_v_out`], name: `${prefix}_mm` }));
    return body.graph;
  };
  const tb = new GraphBuilder('then');
  const tmm = tb.op('MatMul', [x, b.weight('wt', [64, 64], 2)], {}, { name: 'then_mm' });
  const tadd = tb.op('Add', [tmm, b.weight('bt', [64], 3)], {}, { name: 'then_add' });
  tb.output(tb.op('Loop', [b.init('two', I64, [], [2]), b.init('t_go', B, [], [1]), tadd], { body: loopBody('deep', b.weight('wd', [64, 64], 4, 0.05)) }, { outputNames: ['t_out'], name: 'then_loop' }));
  const eb = new GraphBuilder('else');
  eb.output(eb.op('MatMul', [x, b.weight('we', [64, 64], 5)], {}, { outputNames: ['e_out'], name: 'else_mm' }));
  const y = b.op('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'branch' });
  const l = b.op('Loop', [b.init('four', I64, [], [4]), b.init('go', B, [], [1]), y], { body: loopBody('body', b.weight('wl', [64, 64], 6, 0.05)) }, { name: 'loop' });
  b.output(b.op('Relu', [l], {}, { name: 'relu' }));
  return b.model({ opset: 13 });
}
