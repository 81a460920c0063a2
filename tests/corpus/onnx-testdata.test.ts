// Generality check on models nobody here wrote: the ONNX project's own backend test
// corpus (Debian package libonnx-testdata: ~930 single-operator models, PyTorch-converted
// modules, simple models), each with input and expected output tensors. For every model:
// it loads (or fails with a coded error), re-serializes to a fixed point, and shape
// inference with the test's input shapes never contradicts the expected outputs' shapes.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SplitcError } from '../../src/ir/errors.js';
import { loadModel, modelToBytes } from '../../src/ir/serde/io.js';
import { deserializeModel } from '../../src/ir/serde/read.js';
import { assertValid } from '../../src/ir/verify.js';
import { annotateCost } from '../../src/passes/cost.js';
import { PassContext } from '../../src/passes/pass.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import type { Dim } from '../../src/ir/graph.js';
import type * as ort from 'onnxruntime-node';
import { corpusAvailable, corpusCases, dataDims, dataTensors, toOrt } from '../helpers/onnx-corpus.js';
import { runOrt, sameOutputs } from '../helpers/onnx-oracle.js';

describe.skipIf(!corpusAvailable)('ONNX backend test corpus (libonnx-testdata)', () => {
  it('loads, round-trips and infers shapes consistent with the expected outputs', () => {
    const all = corpusCases();
    const errors = new Map<string, number>();
    const mismatches: string[] = [];
    const crashes: string[] = [];
    const contradicting: string[] = [];
    let loaded = 0;
    let outputs = 0;
    let inferred = 0;
    for (const c of all) {
      const id = `${c.suite}/${c.name}`;
      let m;
      try {
        m = loadModel(path.join(c.dir, 'model.onnx'));
        assertValid(m);
      } catch (e) {
        if (e instanceof SplitcError) {
          errors.set(e.code, (errors.get(e.code) ?? 0) + 1);
          continue;
        }
        crashes.push(`${id}: load: ${(e as Error).stack}`);
        continue;
      }
      loaded++;
      try {
        const bytes = modelToBytes(m);
        const again = modelToBytes(deserializeModel(bytes));
        if (!Buffer.from(again).equals(Buffer.from(bytes))) crashes.push(`${id}: re-serialization is not a fixed point`);
        const realInputs = m.graph.inputs.filter((v) => !v.constValue);
        const inDims = dataDims(c.dir, 'input');
        const inputShapes: Record<string, Dim[]> = {};
        realInputs.forEach((v, i) => {
          const d = inDims[i];
          if (!d || v.type?.kind !== 'tensor') return;
          // test data that contradicts the declared rank or fixed dims (splitc refuses such
          // shapes): the input keeps its declared shape
          const declared = v.type.shape;
          if (declared && (declared.length !== d.length || declared.some((x, j) => typeof x === 'number' && x !== d[j]))) {
            contradicting.push(`${id}: ${v.name}`);
            return;
          }
          inputShapes[v.name] = d;
        });
        const ctx = new PassContext();
        inferShapes(m, { inputShapes, ctx });
        assertValid(m);
        annotateCost(m);
        const rule = ctx.diagnostics.find((d) => d.code === 'W_SHAPE_RULE_FAILED');
        if (rule) crashes.push(`${id}: ${rule.message}`);
        const outDims = dataDims(c.dir, 'output');
        m.graph.outputs.forEach((v, i) => {
          const want = outDims[i];
          if (!want || v.type?.kind !== 'tensor') return;
          outputs++;
          const got = v.shape;
          if (!got) return;
          const ok = got.length === want.length && got.every((d, j) => typeof d !== 'number' || d === want[j]);
          if (!ok) mismatches.push(`${id}: output ${i} '${v.name}' inferred [${got.join(',')}], expected [${want.join(',')}]`);
          else if (got.every((d) => typeof d === 'number')) inferred++;
        });
      } catch (e) {
        crashes.push(`${id}: ${e instanceof SplitcError ? e.code + ' ' : ''}${(e as Error).stack}`);
      }
    }
    console.log(
      `onnx corpus: ${all.length} models, ${loaded} loaded (${[...errors].map(([k, v]) => `${k}=${v}`).join(' ') || 'no errors'}); ` +
        `output shapes inferred exactly: ${inferred}/${outputs}`,
    );
    expect(crashes).toEqual([]);
    expect(mismatches).toEqual([]);
    // (the bfloat16 CastLike cases declare `like` [3,4] but feed one element: only its type counts)
    expect(contradicting).toEqual(['BFLOAT16_to_FLOAT', 'BFLOAT16_to_FLOAT_expanded', 'FLOAT_to_BFLOAT16', 'FLOAT_to_BFLOAT16_expanded'].map((c) => `node/test_castlike_${c}: like`));
  });

  it('converted models give bit-identical onnxruntime outputs on the test inputs', async () => {
    let compared = 0;
    let skipped = 0;
    const failures: string[] = [];
    for (const c of corpusCases()) {
      const id = `${c.suite}/${c.name}`;
      const file = path.join(c.dir, 'model.onnx');
      let converted: Uint8Array;
      let names: string[];
      try {
        const m = loadModel(file);
        converted = modelToBytes(m);
        names = m.graph.inputs.filter((v) => !v.constValue).map((v) => v.name);
      } catch {
        continue; // load errors are covered above
      }
      const feeds: Record<string, ort.Tensor> = {};
      const inputs = dataTensors(c.dir, 'input');
      const usable =
        inputs.length === names.length &&
        inputs.every((t, i) => {
          const o = t ? toOrt(t) : null;
          if (o) feeds[names[i]!] = o;
          return o !== null;
        });
      if (!usable) {
        skipped++;
        continue;
      }
      let a, b;
      try {
        a = await runOrt(file, feeds);
        b = await runOrt(file, feeds);
      } catch {
        skipped++; // onnxruntime cannot run the original (op or opset it lacks)
        continue;
      }
      if (!sameOutputs(a, b).same) {
        skipped++; // non-deterministic op (random generators)
        continue;
      }
      try {
        const r = sameOutputs(a, await runOrt(converted, feeds));
        if (!r.same) failures.push(`${id}: ${r.why}`);
      } catch (e) {
        failures.push(`${id}: converted model fails in onnxruntime: ${(e as Error).message.split('\n')[0]}`);
      }
      compared++;
    }
    console.log(`onnx corpus under onnxruntime: ${compared} models compared bit-for-bit after conversion, ${skipped} skipped (not runnable by onnxruntime, non-tensor or random)`);
    expect(failures).toEqual([]);
    expect(compared).toBeGreaterThan(500);
  });
});
