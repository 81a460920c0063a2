// Affine quantization to unsigned codes: parameters from calibration ranges, and JS
// references of exactly what the inserted graphs compute (quantize, pack sub-byte codes,
// unpack, dequantize), so clients and tests can encode or decode the wire without ONNX.

import type { QuantBits, RangeMode } from './spec.js';
import { percentileRange, type TailSummary } from './stats.js';

export interface QuantParams {
  bits: QuantBits;
  /** Per-tensor: length 1; per-channel: one entry per channel along `axis`. */
  scale: number[];
  /** Integer zero points in [0, 2^bits − 1]. */
  zeroPoint: number[];
  /** The calibrated range each scale covers (before widening to include 0). */
  lo: number[];
  hi: number[];
  /** Some bound was estimated from the reservoir sample, not the exact tails. */
  approximate: boolean;
}

const f32 = Math.fround;

/**
 * Scale and zero point covering [lo, hi] widened to include 0 (so 0 is exact, which keeps
 * ReLU zeros zero). Scales are float32 values; a degenerate range gets scale 1.
 */
export function affineParams(lo: number, hi: number, bits: QuantBits): { scale: number; zeroPoint: number } {
  const qmax = 2 ** bits - 1;
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  let scale = f32((b - a) / qmax);
  if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
  const zeroPoint = Math.min(qmax, Math.max(0, Math.round(-a / scale)));
  return { scale, zeroPoint };
}

/** Quantization parameters from per-tensor (`channels` undefined) or per-channel summaries. */
export function quantParams(summaries: readonly TailSummary[], bits: QuantBits, range: RangeMode): QuantParams {
  const out: QuantParams = { bits, scale: [], zeroPoint: [], lo: [], hi: [], approximate: false };
  for (const s of summaries) {
    const r = range.kind === 'percentile' ? percentileRange(s, range.percentile) : { lo: s.min, hi: s.max, approximate: false };
    const p = affineParams(r.lo, r.hi, bits);
    out.scale.push(p.scale);
    out.zeroPoint.push(p.zeroPoint);
    out.lo.push(r.lo);
    out.hi.push(r.hi);
    out.approximate ||= r.approximate;
  }
  return out;
}

/** Codes per byte on the wire. */
export function codesPerByte(bits: QuantBits): number {
  return 8 / bits;
}

/** Bytes on the wire for `elements` codes of `bits` bits: ceil(bits·elements/8). */
export function packedBytes(elements: number, bits: QuantBits): number {
  return Math.ceil((bits * elements) / 8);
}

/** What the edge graph computes in float32: clip(floor(x·(1/s) + (zp + 0.5)), 0, qmax). */
export function quantizeValue(x: number, scale: number, zeroPoint: number, bits: QuantBits): number {
  const inv = f32(1 / scale);
  const q = Math.floor(f32(f32(x * inv) + f32(zeroPoint + 0.5)));
  return Math.min(2 ** bits - 1, Math.max(0, q));
}

/** What the cloud graph computes in float32: (q − zp)·s. */
export function dequantizeValue(q: number, scale: number, zeroPoint: number): number {
  return f32(f32(q - zeroPoint) * scale);
}

/**
 * Pack codes little-end first: code i goes to byte floor(i/P), bits (i mod P)·b upward,
 * P = 8/b codes per byte; the tail byte is padded with zero codes. The graphs pack each
 * sample on its own (one row of a [N, bytes] wire), so pass one sample's codes.
 */
export function packCodes(codes: ArrayLike<number>, bits: QuantBits): Uint8Array {
  const per = codesPerByte(bits);
  const out = new Uint8Array(packedBytes(codes.length, bits));
  for (let i = 0; i < codes.length; i++) out[Math.floor(i / per)]! |= (codes[i]! & (2 ** bits - 1)) << ((i % per) * bits);
  return out;
}

export function unpackCodes(bytes: Uint8Array, bits: QuantBits, elements: number): Uint8Array {
  const per = codesPerByte(bits);
  const out = new Uint8Array(elements);
  for (let i = 0; i < elements; i++) out[i] = (bytes[Math.floor(i / per)]! >> ((i % per) * bits)) & (2 ** bits - 1);
  return out;
}
