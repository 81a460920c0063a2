// PNG encoding for the audit report's thumbnails (8-bit grayscale, RGB or RGBA), through
// pngjs, which the project already uses to read calibration images.

import { PNG } from 'pngjs';
import { SplitcError } from '../ir/errors.js';

/** Channels per pixel → PNG colour type (0 grayscale, 2 RGB, 6 RGBA). */
const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

/**
 * Encodes 8-bit pixels, row-major and channel-interleaved (`channels` bytes per pixel), as a
 * PNG file. Deterministic: the same pixels give the same bytes.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Buffer {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new SplitcError('E_BAD_ARGUMENT', `a PNG needs a positive whole width and height, got ${width}×${height}`);
  }
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined) throw new SplitcError('E_BAD_ARGUMENT', `a PNG pixel has 1, 3 or 4 channels, got ${String(channels)}`);
  if (pixels.length !== width * height * channels) {
    throw new SplitcError('E_BAD_ARGUMENT', `${width}×${height}×${channels} pixels need ${width * height * channels} bytes, got ${pixels.length}`);
  }
  // The packer reads only width, height and data; input and output colour types match, so it
  // takes the bytes as they are (no conversion to RGBA and back).
  const png = new PNG({ width: 1, height: 1 });
  png.width = width;
  png.height = height;
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4, bitDepth: 8 });
}
