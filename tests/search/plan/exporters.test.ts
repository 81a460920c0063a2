// Plans on other exporters' idioms (fixtures/exporters): PyTorch feeds shared weights through
// Identity nodes and TF-style models compute weights with Transpose/Cast/Reshape of an
// initializer. Over several device/link presets and compressions, no candidate — and so no
// plan and no bundle — may put a constant on the wire, and every chosen split must recompose
// the original under onnxruntime.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Model, Value } from '../../../src/ir/graph.js';
import { loadModelWithBytes, modelToBytes } from '../../../src/ir/serde/io.js';
import { assertValid } from '../../../src/ir/verify.js';
import { cutAfterNode, splitModel } from '../../../src/passes/cut.js';
import { annotateCost } from '../../../src/passes/cost.js';
import { inferShapes } from '../../../src/passes/shape/index.js';
import { planSplit } from '../../../src/search/plan/split.js';
import { modelSha256Of } from '../../../src/search/profiles/predict.js';
import { devicePreset, linkPreset } from '../../../src/search/profiles/presets.js';
import { nodeFeatures } from '../../../src/search/latency-fit.js';
import { exporterFixtures } from '../../helpers/fixtures.js';
import { codeOf } from '../../helpers/codes.js';
import { seededFloatInputs } from '../../helpers/onnx-oracle.js';

/**
 * An oracle independent of src/ir/constants.ts: the values that data flows into from a real
 * graph input (forward reachability). Everything else — weights and what is computed from
 * weights only — must never be sent.
 */
function dataValues(m: Model): Set<string> {
  const g = m.graph;
  const data = new Set<Value>(g.inputs.filter((v) => !g.initializers.has(v.name)));
  for (const n of g.nodes) if (n.dependencies().some((v) => data.has(v))) for (const o of n.outputs) data.add(o);
  return new Set([...data].map((v) => v.name));
}

const EDGES = ['phone-wasm', 'low-power-board', 'laptop-cpu'];
const LINKS = ['3g', 'lte', 'wifi'];
const OPTIONS = ['int8', 'int4', 'pca=8+int8'];

async function runModel(m: Model | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(m instanceof Uint8Array ? m : modelToBytes(m), { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
  const names = new Set(s.inputNames);
  const out = await s.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
  await s.release();
  return out;
}

describe.each(exporterFixtures().map((f) => [f.file, f] as const))('%s', (_name, f) => {
  it('no candidate of any plan over devices × links × compressions sends a constant', async () => {
    const { model, bytes } = loadModelWithBytes(f.path);
    const data = dataValues(model);
    const sha = modelSha256Of(bytes);
    let candidates = 0;
    const chosen = new Set<string>();
    for (const edge of EDGES) {
      for (const link of LINKS) {
        const p = await planSplit(model, { edge: devicePreset(edge)!, cloud: devicePreset('cloud-cpu')!, link: linkPreset(link)!, inputShapes: f.inputShapes, modelSha256: sha, compressOptions: OPTIONS });
        for (const c of p.candidates) {
          candidates++;
          const constants = c.cutTensors.filter((t) => !data.has(t));
          expect(constants, `${edge}/${link}: candidate ${c.kind} at ${c.cutTensors.join(', ')} sends weights`).toEqual([]);
        }
        // sending the input compressed (a cloud-only plan with a lossy wire) is a candidate
        const inputName = Object.keys(f.inputShapes)[0]!;
        expect(p.candidates.some((c) => c.cutTensors.length === 1 && c.cutTensors[0] === inputName && c.compress === 'int8')).toBe(true);
        if (p.chosen.kind === 'split') chosen.add(JSON.stringify(p.chosen.cutTensors));
      }
    }
    expect(candidates).toBeGreaterThan(9);
    // every chosen cut splits the model and the halves recompose the original
    const feeds = seededFloatInputs(f.inputShapes, 7);
    const reference = await runModel(new Uint8Array(bytes), feeds);
    for (const key of chosen) {
      const split = splitModel(model, JSON.parse(key) as string[]);
      assertValid(split.edge);
      assertValid(split.cloud);
      for (const t of split.cutTensors) expect(data.has(t)).toBe(true);
      const wire = await runModel(split.edge, feeds);
      const out = await runModel(split.cloud, wire);
      for (const [name, ref] of Object.entries(reference)) {
        const got = (out[name] ?? wire[name])!.data as Float32Array;
        const want = ref.data as Float32Array;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i]!)));
      }
    }
  });

  it('cutting after any compute node sends activations only, and cutting at a weight is E_CUT', () => {
    const { model } = loadModelWithBytes(f.path);
    inferShapes(model, { inputShapes: f.inputShapes });
    const data = dataValues(model);
    const outputs = new Set(model.graph.outputs);
    let cuts = 0;
    for (const n of model.graph.nodes) {
      if (!n.outputs.some((o) => data.has(o.name)) || n.outputs.some((o) => outputs.has(o))) continue;
      const cut = cutAfterNode(model, n.name);
      for (const t of cut) expect(data.has(t), `cut after ${n.name} sends ${t}`).toBe(true);
      cuts++;
    }
    expect(cuts).toBeGreaterThan(3);
    const weightFold = [...model.graph.nodes].find((n) => n.opType !== 'Constant' && n.outputs.every((o) => !data.has(o.name)));
    if (weightFold) expect(codeOf(() => splitModel(model, [weightFold.outputs[0]!.name]))).toBe('E_CUT');
  });

  it('costs charge folds of weights as parameters: no MACs, no activation memory, no timed node', () => {
    const { model } = loadModelWithBytes(f.path);
    inferShapes(model, { inputShapes: f.inputShapes });
    const data = dataValues(model);
    const cost = annotateCost(model);
    for (const [n, c] of cost.nodes) {
      if (n.outputs.every((o) => !data.has(o.name))) {
        expect(c.macs).toBe(0);
        expect(c.outputBytes).toBe(0);
      }
    }
    const features = nodeFeatures(model, { inputShapes: f.inputShapes });
    const names = new Set(features.map((x) => x.name));
    for (const n of model.graph.nodes) if (n.outputs.every((o) => !data.has(o.name))) expect(names.has(n.name)).toBe(false);
  });
});
