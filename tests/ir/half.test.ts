// FP16 and BF16 bits to and from numbers: every finite half round-trips, ties go to even.
import { describe, expect, it } from 'vitest';
import { bf16BitsToFloat, floatToBf16Bits, floatToHalfBits, halfBitsToFloat } from '../../src/ir/half.js';

describe('FP16 and BF16', () => {
  it('round-trips every finite half exactly and rounds to nearest even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const e = (h >>> 10) & 0x1f;
      if (e === 0x1f && h & 0x3ff) continue; // NaNs: payload not preserved
      expect(floatToHalfBits(halfBitsToFloat(h))).toBe(h);
    }
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(floatToHalfBits(65520)).toBe(0x7c00); // rounds to +Inf
    expect(floatToHalfBits(2 ** -25)).toBe(0); // tie → even (zero)
    expect(floatToHalfBits(2 ** -25 * 1.01)).toBe(1);
    expect(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN)))).toBe(true);
  });
  it('round-trips bf16', () => {
    for (const h of [0, 0x3f80, 0xbf80, 0x7f7f, 0x0001, 0x7f80, 0xff80]) expect(floatToBf16Bits(bf16BitsToFloat(h))).toBe(h);
    expect(Number.isNaN(bf16BitsToFloat(floatToBf16Bits(NaN)))).toBe(true);
  });
});
