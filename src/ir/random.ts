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
