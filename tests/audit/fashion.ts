// What the audit tests on the Fashion-MNIST ResNet share: images as probe arrays, and probes
// (what the attacker observes for each) from an attack target.

import * as path from 'node:path';
import { createSession, runStacked, stack } from '../../src/audit/inverse-net.js';
import { FASHION_MNIST_DIR, type ImageDataset, loadIdxImages } from '../../src/runtime/train/idx.js';
import type { AttackTarget, Probe } from '../../src/audit/types.js';

export const DIMS = [1, 28, 28];
export const PER = 28 * 28;

/** The first n images of a [n, 1, 28, 28] array, one array each. */
export function samples(images: Float32Array, n: number, offset = 0): Float32Array[] {
  return Array.from({ length: n }, (_, i) => images.slice((offset + i) * PER, (offset + i + 1) * PER));
}

/** Probes for `xs`: what the target's edge part sends for each (its observed values). */
export async function probesFor(target: AttackTarget, xs: Float32Array[]): Promise<Probe[]> {
  const session = await createSession(target.model, 2);
  try {
    const z = await runStacked(session, target.input, stack(xs, target.inputDims), target.observed.map((o) => o.name), 64);
    return xs.map((x, i) => ({ id: `test${i}`, x, z: z.map((s) => s.data.slice((i * s.data.length) / s.n, ((i + 1) * s.data.length) / s.n)) }));
  } finally {
    await session.release();
  }
}

export const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

/** Debian's Fashion-MNIST, normalised as the ResNet was trained: the first `limit` images of a split. */
export function fashionSet(split: 'train' | 't10k', limit: number): ImageDataset {
  return loadIdxImages(path.join(FASHION_MNIST_DIR, `${split}-images-idx3-ubyte.gz`), path.join(FASHION_MNIST_DIR, `${split}-labels-idx1-ubyte.gz`), { limit });
}

/** The value range of a set's pixels (the attacks' input range) and its mean image (the no-information baseline). */
export function rangeAndMean(set: ImageDataset): { range: { lo: number[]; hi: number[] }; meanImage: Float32Array } {
  let lo = Infinity;
  let hi = -Infinity;
  const meanImage = new Float32Array(PER);
  for (let i = 0; i < set.images.length; i++) {
    const v = set.images[i]!;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    meanImage[i % PER] = meanImage[i % PER]! + v / set.n;
  }
  return { range: { lo: [lo], hi: [hi] }, meanImage };
}
