// Reference implementations for tests: onnxruntime-node runs models (bit-exact output
// comparison) and, when Debian's python3-onnx is installed, onnx.checker validates files.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';

/** A small deterministic PRNG (xorshift32) so test inputs are reproducible. */
export { xorshift32 } from '../../src/ir/random.js';
import { xorshift32 } from '../../src/ir/random.js';

/** Seeded uniform float32 inputs in [-1, 1) for the given input shapes. */
export function seededFloatInputs(shapes: Record<string, number[]>, seed = 1): Record<string, ort.Tensor> {
  const rnd = xorshift32(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, dims] of Object.entries(shapes)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rnd() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  return feeds;
}

/**
 * The largest |ref − got| over two float arrays of the same length, and the largest |ref| (the
 * scale tolerances are taken relative to).
 */
export function maxAbsDiff(ref: ArrayLike<number>, got: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return { diff, scale };
}

/** The float32 elements of an ORT output's bytes (copied: the buffer may be shared). */
export function floatsOf(bytes: Buffer | null): Float32Array {
  return new Float32Array(bytes!.buffer.slice(bytes!.byteOffset, bytes!.byteOffset + bytes!.byteLength));
}

export interface OrtOutput {
  type: string;
  dims: readonly number[];
  /** Raw element bytes (numeric tensors) or the strings (string tensors). */
  bytes: Buffer | null;
  strings: string[] | null;
}

/**
 * Run a model (file path, so external data resolves) on one thread with graph
 * optimizations as usual; returns every output by name.
 */
export async function runOrt(model: string | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, OrtOutput>> {
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const out = await session.run(feeds);
    const result: Record<string, OrtOutput> = {};
    for (const [name, t] of Object.entries(out)) {
      if (t.type === 'string') {
        result[name] = { type: t.type, dims: t.dims, bytes: null, strings: [...(t.data as string[])] };
      } else {
        const d = t.data as unknown as ArrayBufferView;
        result[name] = { type: t.type, dims: t.dims, bytes: Buffer.from(d.buffer, d.byteOffset, d.byteLength), strings: null };
      }
    }
    return result;
  } finally {
    await session.release();
  }
}

/** True when two ORT results have the same names, types, dims and identical bytes. */
export function sameOutputs(a: Record<string, OrtOutput>, b: Record<string, OrtOutput>): { same: boolean; why: string } {
  const na = Object.keys(a).sort();
  const nb = Object.keys(b).sort();
  if (na.join('\n') !== nb.join('\n')) return { same: false, why: `output names differ: ${na} vs ${nb}` };
  for (const n of na) {
    const x = a[n]!;
    const y = b[n]!;
    if (x.type !== y.type) return { same: false, why: `${n}: type ${x.type} vs ${y.type}` };
    if (x.dims.join(',') !== y.dims.join(',')) return { same: false, why: `${n}: dims [${x.dims}] vs [${y.dims}]` };
    if (x.bytes && y.bytes && !x.bytes.equals(y.bytes)) return { same: false, why: `${n}: data bytes differ` };
    if (x.strings && y.strings && x.strings.join('\0') !== y.strings.join('\0')) return { same: false, why: `${n}: strings differ` };
  }
  return { same: true, why: '' };
}

/** Debian's python3-onnx lives in /usr/bin/python3 (the `python3` on PATH may be another one). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

let onnxAvailability: { ok: boolean; reason: string } | undefined;
/** Whether `import onnx` works in the system Python (cached). */
export function pythonOnnx(): { ok: boolean; reason: string } {
  if (onnxAvailability) return onnxAvailability;
  if (!fs.existsSync(SYSTEM_PYTHON)) return (onnxAvailability = { ok: false, reason: `${SYSTEM_PYTHON} is missing` });
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  onnxAvailability = r.status === 0 ? { ok: true, reason: `onnx ${r.stdout.trim()}` } : { ok: false, reason: 'python3-onnx is not installed' };
  return onnxAvailability;
}

/** Run onnx.checker.check_model(path, full_check=True); returns ok and the checker's message. */
export function onnxCheck(file: string): { ok: boolean; message: string } {
  const script = [
    'import sys, onnx',
    'try:',
    '    onnx.checker.check_model(sys.argv[1], full_check=True)',
    '    print("ok")',
    'except Exception as e:',
    '    print(type(e).__name__ + ": " + str(e)); sys.exit(1)',
  ].join('\n');
  const r = spawnSync(SYSTEM_PYTHON, ['-c', script, file], { encoding: 'utf8' });
  return { ok: r.status === 0, message: (r.stdout + r.stderr).trim() };
}
