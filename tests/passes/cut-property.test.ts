// Property test: on random DAGs, every cut splitModel accepts reproduces the model
// bit-exactly as edge → cloud, and every cut it rejects really leaves a path from an
// input to a cloud output (checked by brute force).
import * as ort from 'onnxruntime-node';
import { expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { SplitcError } from '../../src/ir/errors.js';
import type { Model, Value } from '../../src/ir/graph.js';
import { modelToBytes } from '../../src/ir/serde/io.js';
import { assertValid } from '../../src/ir/verify.js';
import { cutAfterNode, splitModel } from '../../src/passes/cut.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { seededFloatInputs, xorshift32 } from '../helpers/onnx-oracle.js';

const UNARY = ['Relu', 'Sigmoid', 'Neg', 'Tanh', 'Abs'];
const BINARY = ['Add', 'Mul', 'Sub', 'Max'];

function randomModel(rand: () => number): { model: Model; values: Value[] } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const b = new GraphBuilder('random');
  const values: Value[] = [];
  const nInputs = 1 + Math.floor(rand() * 2);
  for (let i = 0; i < nInputs; i++) values.push(b.input(`in${i}`, DataType.FLOAT, [2, 3]));
  const nNodes = 3 + Math.floor(rand() * 18);
  for (let i = 0; i < nNodes; i++) {
    const r = rand();
    let v: Value;
    if (r < 0.4) v = b.op(pick(UNARY), [pick(values)], {}, { outputNames: [`v${i}`] });
    else if (r < 0.9) v = b.op(pick(BINARY), [pick(values), pick(values)], {}, { outputNames: [`v${i}`] });
    else v = b.op('Mul', [pick(values), b.weight(`w${i}`, [3], i + 1)], {}, { outputNames: [`v${i}`] });
    values.push(v);
  }
  // outputs: the sinks, plus sometimes an inner value
  const sinks = values.filter((v) => v.producer() && v.uses().length === 0);
  for (const v of sinks) b.output(v);
  if (rand() < 0.3) {
    const inner = values.filter((v) => v.producer() && v.uses().length > 0);
    if (inner.length) b.output(pick(inner));
  }
  const model = b.model({ opset: 13 });
  inferShapes(model);
  return { model, values };
}

async function run(m: Model, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(modelToBytes(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const names = new Set(s.inputNames);
  const out = await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
  await s.release();
  return out;
}

/** Is there a path from a graph input to a cloud output that avoids `cut`? (brute force DFS) */
function escapes(model: Model, cut: Set<Value>): boolean {
  const g = model.graph;
  const downstream = new Set<Value>(cut);
  for (const n of g.nodes) if (n.inputs.some((v) => v && downstream.has(v))) for (const o of n.outputs) downstream.add(o);
  const cloudOutputs = g.outputs.filter((o) => downstream.has(o) && !cut.has(o));
  if (cloudOutputs.length === 0) return true; // nothing for the cloud: rejected too
  // reachable from inputs without passing through cut tensors
  const reach = new Set<Value>(g.inputs.filter((v) => !cut.has(v)));
  for (const n of g.nodes) if (n.inputs.some((v) => v && reach.has(v))) for (const o of n.outputs) if (!cut.has(o)) reach.add(o);
  return cloudOutputs.some((o) => reach.has(o));
}

it('random DAGs: accepted cuts are bit-exact, rejected cuts really escape', async () => {
  const rand = xorshift32(20261123);
  let accepted = 0;
  let rejected = 0;
  for (let trial = 0; trial < 150; trial++) {
    const { model, values } = randomModel(rand);
    const feeds = seededFloatInputs(Object.fromEntries(model.graph.inputs.map((v) => [v.name, [2, 3]])), trial);
    const whole = await run(model, feeds);
    // a random tensor set, and a cut after a random node
    const candidates: string[][] = [];
    const subset = values.filter(() => rand() < 0.3).map((v) => v.name);
    if (subset.length) candidates.push(subset);
    const nodes = [...model.graph.nodes].filter((n) => n.opType !== 'Constant');
    try {
      candidates.push(cutAfterNode(model, nodes[Math.floor(rand() * nodes.length)]!.name));
    } catch (e) {
      if (!(e instanceof SplitcError)) throw e;
    }
    for (const cut of candidates) {
      const cutSet = new Set(cut.map((n) => values.find((v) => v.name === n)!));
      let split;
      try {
        split = splitModel(model, cut);
      } catch (e) {
        if (!(e instanceof SplitcError)) throw e;
        expect(e.code, `trial ${trial} cut [${cut}]: ${e.message}`).toBe('E_CUT');
        expect(escapes(model, cutSet), `trial ${trial}: rejected cut [${cut}] does separate`).toBe(true);
        rejected++;
        continue;
      }
      expect(escapes(model, cutSet), `trial ${trial}: accepted cut [${cut}] does not separate`).toBe(false);
      assertValid(split.edge);
      assertValid(split.cloud);
      const e = await run(split.edge, feeds);
      const c = await run(split.cloud, e);
      const parts = { ...e, ...c };
      for (const o of model.graph.outputs) {
        const a = whole[o.name]!.data as Float32Array;
        const b = parts[o.name]!.data as Float32Array;
        expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)), `trial ${trial} output ${o.name}`).toBe(true);
      }
      accepted++;
    }
  }
  console.log(`cut property: ${accepted} accepted cuts bit-exact, ${rejected} rejected cuts confirmed to escape`);
  expect(accepted).toBeGreaterThan(100);
  expect(rejected).toBeGreaterThan(20);
});
