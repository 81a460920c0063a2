// A small seeded PRNG (xorshift32) for reproducible data: shuffles, synthetic weights, tests.

/** Uniform numbers in [0, 1) from a 32-bit xorshift generator. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Fisher–Yates: shuffles `items` in place, drawing from `r` (one draw per position, last first). */
export function shuffleInPlace(items: number[] | Uint32Array, r: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
}

/** The sample order of an epoch: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(order, xorshift32((seed * 0x9e3779b1 + epoch * 0x85ebca6b + 1) >>> 0));
  return order;
}
