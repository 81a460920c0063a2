import { loadModel, saveModel, modelToBytes } from '/work/main/src/ir/serde/io.js';
import { fixtures, tmpDir } from '/work/main/tests/helpers/fixtures.js';
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { hoistConstants } from '/work/main/src/passes/hoist-constants.js';
const d = tmpDir();
for (const f of fixtures()) {
  let t = performance.now();
  const m = loadModel(f.path);
  const out = d + '/' + f.file;
  saveModel(m, out);
  const a = fs.readFileSync(f.path), b = fs.readFileSync(out);
  console.log(f.file, a.length, b.length, Buffer.compare(a,b), performance.now()-t);
  const m2 = loadModel(out); saveModel(m2, out + '2.onnx');
  console.log('stable', Buffer.compare(fs.readFileSync(out), fs.readFileSync(out+'2.onnx')));
  hoistConstants(m2); saveModel(m2, out+'h.onnx');
  const s = await ort.InferenceSession.create(out+'h.onnx');
  console.log(s.inputNames, s.outputNames, m2.graph.initializers.size);
}
