// encodePng: 8-bit gray, RGB and RGBA pixels come back unchanged through an independent decoder
// (pngjs' reader), as the colour type asked for; wrong sizes are coded errors.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../../src/audit/png.js';
import { codeOf } from '../helpers/codes.js';

/** Seeded bytes covering 0..255. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('encodePng', () => {
  it.each([
    [1, 0],
    [3, 2],
    [4, 6],
  ] as const)('round-trips %i-channel pixels (PNG colour type %i), non-square', (channels, colorType) => {
    const [w, h] = [13, 7];
    const px = bytes(w * h * channels, channels);
    const file = encodePng(px, w, h, channels);
    expect(file.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const png = PNG.sync.read(file);
    expect([png.width, png.height, png.colorType, png.depth]).toEqual([w, h, colorType, 8]);
    // the reader expands to RGBA
    const want = new Uint8Array(w * h * 4);
    for (let p = 0; p < w * h; p++) {
      for (let k = 0; k < 3; k++) want[p * 4 + k] = px[p * channels + (channels === 1 ? 0 : k)]!;
      want[p * 4 + 3] = channels === 4 ? px[p * 4 + 3]! : 255;
    }
    expect(Buffer.from(png.data).equals(Buffer.from(want))).toBe(true);
    expect(encodePng(px, w, h, channels).equals(file)).toBe(true); // deterministic
  });

  it('takes a view into a larger buffer as it is', () => {
    const backing = bytes(100, 9);
    const view = backing.subarray(10, 10 + 12);
    const png = PNG.sync.read(encodePng(view, 4, 3, 1));
    expect(Array.from(png.data).filter((_, i) => i % 4 === 0)).toEqual(Array.from(view));
  });

  it('rejects sizes that do not match the pixels', () => {
    expect(codeOf(() => encodePng(new Uint8Array(11), 4, 3, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => encodePng(new Uint8Array(0), 0, 3, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => encodePng(new Uint8Array(24), 4, 3, 2 as 1))).toBe('E_BAD_ARGUMENT');
  });
});
