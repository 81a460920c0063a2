// A learnable toy task for trainer tests: 8×8 images whose class is the brightest of three
// horizontal bands.
import { type LabeledImages, rng } from '../../../src/runtime/train/fit.js';

export function toyData(n: number, seed: number): LabeledImages {
  return toyDataFrom(rng(seed), n);
}

/** n samples drawn from `r`. Free of imports and closures: the federated browser test's page runs its source (toString). */
export function toyDataFrom(r: () => number, n: number): LabeledImages {
  const images = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = Math.floor(r() * 3);
    labels[i] = label;
    for (let p = 0; p < 64; p++) {
      const band = Math.min(2, Math.floor(Math.floor(p / 8) / 3));
      images[i * 64 + p] = r() - 0.5 + (band === label ? 1 : 0);
    }
  }
  return { images, labels, n, shape: [1, 8, 8] };
}
