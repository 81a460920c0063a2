// Arrays joined end to end: bytes, and typed arrays of one kind (a batch's tensors).
import { expect, it } from 'vitest';
import { concatBytes, concatTyped } from '../../src/ir/bytes.js';

it('joins byte parts in order, with or without their total length', () => {
  const parts = [Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)];
  expect([...concatBytes(parts)]).toEqual([1, 2, 3]);
  expect([...concatBytes(parts, 3)]).toEqual([1, 2, 3]);
  expect(concatBytes([]).length).toBe(0);
  const one = Uint8Array.of(7);
  expect(concatBytes([one])).not.toBe(one); // always a new array
});

it('joins typed arrays into their own kind', () => {
  const out = concatTyped(Float32Array, [Float32Array.of(0.5), Float32Array.of(1.5, -2)]);
  expect(out).toBeInstanceOf(Float32Array);
  expect([...out]).toEqual([0.5, 1.5, -2]);
  expect([...concatTyped(BigInt64Array, [BigInt64Array.of(1n), BigInt64Array.of(-2n)])]).toEqual([1n, -2n]);
});
