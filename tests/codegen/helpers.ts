// Shared by the codegen tests: build bundles for fixtures, start the generated cloud server,
// run the generated edge module in a child Node process, compare against onnxruntime-node.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as ort from 'onnxruntime-node';
import { buildBundle, type BuildResult } from '../../src/codegen/bundle.js';
import { bundleInputFromSplit } from '../../src/codegen/input.js';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { cutAfterNode, splitModel } from '../../src/passes/cut.js';
import { inferShapes } from '../../src/passes/shape/index.js';
import { repoRoot, tmpDir, type FixtureEntry } from '../helpers/fixtures.js';
import { maxAbsDiff } from '../helpers/onnx-oracle.js';

export const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * A temporary folder whose `node_modules` links to the repo's, so that bundles written
 * inside it resolve onnxruntime-web / onnxruntime-node as they would inside a project.
 */
export function projectDir(prefix = 'splitc-bundle-'): string {
  const dir = tmpDir(prefix);
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

export function loadFixture(fx: FixtureEntry & { path: string }): Model {
  const m = loadModel(fx.path);
  inferShapes(m, { inputShapes: fx.inputShapes });
  return m;
}

/** Cut after the compute node halfway through the graph (as in the cut tests). */
export function middleCut(m: Model): string[] {
  const nodes = [...m.graph.nodes].filter((n) => n.opType !== 'Constant' && n.name);
  return cutAfterNode(m, nodes[Math.floor(0.5 * (nodes.length - 1))]!.name);
}

/** Cut after the first Resize node (the detector's FPN: five tensors cross). */
export function firstResizeCut(m: Model): string[] {
  const resize = [...m.graph.nodes].find((n) => n.opType === 'Resize');
  if (!resize) throw new Error('no Resize node');
  return cutAfterNode(m, resize.name);
}

export function buildFixtureBundle(fx: FixtureEntry & { path: string }, cut: (m: Model) => string[], outDir: string): BuildResult {
  const m = loadFixture(fx);
  const split = splitModel(m, cut(m));
  const input = bundleInputFromSplit(m, split, { toolVersion: '0.1.0', sourceFile: fx.path, sourceBytes: fs.readFileSync(fx.path) });
  return buildBundle(input, outDir);
}

export { listFiles } from '../helpers/files.js';

export interface CloudServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `node <bundle>/cloud/server.js --port 0 --token-file <file> ...`; resolves once it listens. */
export function startCloud(bundle: string, tokenFile: string, extra: string[] = []): Promise<CloudServer> {
  const child = spawn(process.execPath, [path.join(bundle, 'cloud', 'server.js'), '--port', '0', '--host', '127.0.0.1', '--token-file', tokenFile, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cloud server did not start in time:\n${out}\n${err}`));
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/[^\s/]+)\/v2/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cloud server exited with ${code}:\n${out}\n${err}`));
    });
  });
}

export interface RawTensor {
  dtype: string;
  dims: number[];
  /** Little-endian element bytes. */
  data: Buffer;
}

/** Serializable tensors (base64) for the edge runner's stdin/stdout. */
export function encodeTensors(t: Record<string, ort.Tensor | RawTensor>): string {
  const out: Record<string, { dtype: string; dims: number[]; b64: string }> = {};
  for (const [name, v] of Object.entries(t)) {
    const dtype = 'type' in v ? v.type : v.dtype;
    const data = 'type' in v ? (v.data as unknown as ArrayBufferView) : v.data;
    out[name] = { dtype, dims: [...v.dims], b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
  }
  return JSON.stringify(out);
}

export function decodeTensors(text: string): Record<string, RawTensor> {
  const j = JSON.parse(text) as Record<string, { dtype: string; dims: number[]; b64: string }>;
  return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, { dtype: v.dtype, dims: v.dims, data: Buffer.from(v.b64, 'base64') }]));
}

/** Run the generated edge module in a fresh Node process (onnxruntime-web, wasm) against `endpoint`. */
export function runEdgeInNode(
  bundle: string,
  endpoint: string,
  token: string,
  inputs: Record<string, ort.Tensor>,
  opts: { repeat?: number } = {},
): Promise<{ outputs: Record<string, RawTensor>; timings: { edgeMs: number; cloudMs: number; cloudRunMs?: number; totalMs: number }[] }> {
  const child = spawn(process.execPath, [path.join(here, 'edge-runner.mjs'), path.join(bundle, 'edge', 'index.js'), endpoint, token, String(opts.repeat ?? 1)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(encodeTensors(inputs));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`edge runner exited with ${code}:\n${err}`));
      const r = JSON.parse(out) as { outputs: string; timings: { edgeMs: number; cloudMs: number; cloudRunMs?: number; totalMs: number }[] };
      resolve({ outputs: decodeTensors(r.outputs), timings: r.timings });
    });
  });
}

export function asFloat32(t: RawTensor | { data: ArrayBufferView }): Float32Array {
  const d = t.data;
  const copy = new Uint8Array(d.byteLength);
  copy.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return new Float32Array(copy.buffer);
}

/**
 * Compare float outputs from different kernels (wasm vs native): max abs error relative to
 * the reference's magnitude, and identical argmax along the last axis wherever the
 * reference's top two differ by clearly more than the tolerance.
 */
export function compareFloat(ref: Float32Array, got: Float32Array, dims: readonly number[], relTol = 1e-4): { ok: boolean; maxAbs: number; scale: number; why: string } {
  if (ref.length !== got.length) return { ok: false, maxAbs: Infinity, scale: 0, why: `lengths ${ref.length} vs ${got.length}` };
  const { diff: maxAbs, scale } = maxAbsDiff(ref, got);
  const tol = relTol * Math.max(1, scale);
  if (!(maxAbs <= tol)) return { ok: false, maxAbs, scale, why: `max abs error ${maxAbs} > ${tol}` };
  const last = dims[dims.length - 1] ?? 1;
  for (let row = 0; row * last < ref.length; row++) {
    let a = -Infinity;
    let b = -Infinity;
    let ia = -1;
    let ig = -1;
    let g = -Infinity;
    for (let k = 0; k < last; k++) {
      const v = ref[row * last + k]!;
      if (v > a) {
        b = a;
        a = v;
        ia = k;
      } else if (v > b) b = v;
      const w = got[row * last + k]!;
      if (w > g) {
        g = w;
        ig = k;
      }
    }
    if (last > 1 && a - b > 4 * tol && ia !== ig) return { ok: false, maxAbs, scale, why: `argmax of row ${row}: ${ia} vs ${ig}` };
  }
  return { ok: true, maxAbs, scale, why: '' };
}
