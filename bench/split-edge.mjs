// Child of bench/split.ts: runs a bundle's edge part against its cloud server, one request at
// a time, and prints per-request timings as JSON.
//
//   node bench/split-edge.mjs <bundle> <endpoint> <token> <web|node> <warmup> <runs>
//
// web:  the generated edge/index.js (onnxruntime-web, wasm, one thread) — what ships.
// node: the same edge/model.onnx in onnxruntime-node (one intra-op thread) with the bundle's
//       copy of the KServe client — the reference for what the wasm kernels cost.
// Inputs are seeded uniform floats in [-1, 1) with the edge graph's input shapes. Each timing:
// edgeMs (the edge graph's run), cloudRunMs (the server's session.run for that request, from
// its Server-Timing header), serverMs (the server's whole handling of it, from the same
// header) and totalMs (the whole call).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const [bundle, endpoint, token, mode, warmupText, runsText] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8'));

let seed = 12345;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};
const inputs = {};
for (const t of manifest.edge.inputs) {
  const dims = t.shape.map((d) => (typeof d === 'number' ? d : 1));
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rnd() * 2 - 1;
  inputs[t.name] = { dtype: 'float32', dims, data };
}

let infer;
let release;
if (mode === 'web') {
  const { createEdge } = await import(pathToFileURL(path.join(bundle, 'edge', 'index.js')).href);
  const edge = await createEdge({ endpoint, token, numThreads: 1 });
  infer = async () => {
    const t = (await edge.inferWithTimings(inputs)).timings;
    return { edgeMs: t.edgeMs, cloudRunMs: t.cloudRunMs, serverMs: t.cloudServerMs, totalMs: t.totalMs };
  };
  release = () => edge.release();
} else {
  const ort = await import('onnxruntime-node');
  const { createKServeClient } = await import(pathToFileURL(path.join(bundle, 'edge', 'lib', 'runtime', 'client.js')).href);
  const session = await ort.InferenceSession.create(path.join(bundle, 'edge', 'model.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const client = createKServeClient({ endpoint, token, model: manifest.model, binary: true });
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, new ort.Tensor('float32', t.data, t.dims)]));
  infer = async () => {
    const t0 = performance.now();
    const out = await session.run(feeds);
    const t1 = performance.now();
    const wire = {};
    for (const w of manifest.wire) wire[w.name] = { dtype: out[w.name].type, dims: out[w.name].dims, data: out[w.name].data };
    const answer = await client.inferWithTimings(wire);
    const t2 = performance.now();
    return { edgeMs: t1 - t0, cloudRunMs: answer.serverTiming.run, serverMs: answer.serverTiming.total, totalMs: t2 - t0 };
  };
  release = () => session.release();
}

for (let i = 0; i < Number(warmupText); i++) await infer();
// tell the parent the warm-up is over (it reads the server's counters now), then wait for a line
process.stdout.write('warm\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const timings = [];
for (let i = 0; i < Number(runsText); i++) timings.push(await infer());
await release();
process.stdout.write(JSON.stringify(timings) + '\n');
process.exit(0);
