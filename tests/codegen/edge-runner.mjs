// Test harness: import a generated edge module (node edge-runner.mjs <edge/index.js> <endpoint>
// <token> [repeat]), read base64 tensors from stdin, run infer with onnxruntime-web (wasm, one
// thread) `repeat` times, print the last outputs and every call's timings as JSON.
import { pathToFileURL } from 'node:url';

const [modulePath, endpoint, token, repeatText = '1'] = process.argv.slice(2);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const given = JSON.parse(input);

const ctors = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};
const inputs = {};
for (const [name, t] of Object.entries(given)) {
  const bytes = Buffer.from(t.b64, 'base64');
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const C = ctors[t.dtype];
  inputs[name] = { dtype: t.dtype, dims: t.dims, data: new C(copy.buffer, 0, copy.byteLength / C.BYTES_PER_ELEMENT) };
}

const { createEdge } = await import(pathToFileURL(modulePath).href);
const edge = await createEdge({ endpoint, token, numThreads: 1 });
const timings = [];
let outputs;
for (let i = 0; i < Number(repeatText); i++) {
  const r = await edge.inferWithTimings(inputs);
  outputs = r.outputs;
  timings.push(r.timings);
}
await edge.release();
const encoded = {};
for (const [name, t] of Object.entries(outputs)) {
  const d = t.data;
  encoded[name] = { dtype: t.dtype, dims: [...t.dims], b64: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64') };
}
process.stdout.write(JSON.stringify({ outputs: JSON.stringify(encoded), timings }));
