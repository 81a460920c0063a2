// Pairwise-mask secure aggregation: the masked uploads of 5 clients sum to the plain sum of
// their calibration statistics; one upload alone is uniform noise uncorrelated with the
// client's V; a pair's masks cancel exactly; a missing or foreign upload is detected (a
// client's own false values are not: see the module's threat model).

import { describe, expect, it } from 'vitest';
import { xorshift32 } from '../../../src/ir/random.js';
import { calibrationStats, packStats, solveCalibration, unpackStats } from '../../../src/runtime/federated/calibration.js';
import { createMaskingKeys, decodeUnmasked, type MaskingKeys, maskVector, MAX_ABS_VALUE, sumMasked } from '../../../src/runtime/federated/secure-agg.js';
import { codeOf, codeOfAsync } from '../../helpers/codes.js';

interface Client {
  id: string;
  keys: MaskingKeys;
}

async function clients(count: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: count }, async (_, k) => ({ id: `client-${k}`, keys: await createMaskingKeys() })));
}

const peersOf = (cs: Client[]) => cs.map((c) => ({ id: c.id, publicKey: c.keys.publicKey }));
const mask = (c: Client, values: Float64Array, cs: Client[], round = 1, context = 'task'): Promise<Uint8Array> =>
  maskVector(values, { id: c.id, privateKey: c.keys.privateKey }, peersOf(cs), round, context);

/** Packed statistics (V's upper triangle, U, n) of `n` random unit features of width d. */
function clientStats(n: number, d: number, classes: number, seed: number): Float64Array {
  const r = xorshift32(seed);
  const z = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += (z[i * d + j] = r() - 0.5 + (j === i % classes ? 1 : 0)) ** 2;
    for (let j = 0; j < d; j++) z[i * d + j]! /= Math.sqrt(norm);
  }
  return packStats(calibrationStats(z, Int32Array.from({ length: n }, (_, i) => i % classes), n, d, classes));
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]!), (mb += b[i]!);
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('secure aggregation', () => {
  const d = 16;
  const C = 4;

  it('the sum of 5 masked uploads equals the plain sum (any order), and calibrates as the plain sum does', async () => {
    const cs = await clients(5);
    const values = cs.map((_, k) => clientStats(200 + 37 * k, d, C, k + 1));
    const uploads = await Promise.all(cs.map((c, k) => mask(c, values[k]!, cs)));
    const plain = values.reduce((a, b) => a.map((v, i) => v + b[i]!));
    const secure = sumMasked([uploads[3]!, uploads[0]!, uploads[4]!, uploads[1]!, uploads[2]!]);
    expect(secure.length).toBe(plain.length);
    for (let i = 0; i < plain.length; i++) expect(Math.abs(secure[i]! - plain[i]!)).toBeLessThan(1e-8 * Math.max(1, Math.abs(plain[i]!)));
    const a = unpackStats(secure, d, C);
    const b = unpackStats(plain, d, C);
    expect(a.n).toBe(b.n);
    const wa = solveCalibration(a.V, a.U, d, C, 1e-3);
    const wb = solveCalibration(b.V, b.U, d, C, 1e-3);
    for (let i = 0; i < wa.length; i++) expect(wa[i]).toBeCloseTo(wb[i]!, 5);
  });

  it('fixed point holds sums of V entries up to 100 × 60,000 to 1e-6 relative', async () => {
    const cs = await clients(3);
    const big = cs.map((_, k) => Float64Array.from({ length: 64 }, (_, i) => 2e6 * ((i * 7 + k) % 13 / 13) + i / 3 - 60000 * k));
    const sum = sumMasked(await Promise.all(cs.map((c, k) => mask(c, big[k]!, cs))));
    big[0]!.forEach((_, i) => {
      const ref = big[0]![i]! + big[1]![i]! + big[2]![i]!;
      expect(Math.abs(sum[i]! - ref)).toBeLessThanOrEqual(1e-6 * Math.abs(ref) + 1e-9);
    });
    expect(await codeOfAsync(mask(cs[0]!, Float64Array.of(MAX_ABS_VALUE), cs))).toBe('E_SECURE_AGG');
    expect(await codeOfAsync(mask(cs[0]!, Float64Array.of(Number.NaN), cs))).toBe('E_SECURE_AGG');
  });

  it('no single masked upload reveals its V_k: uniform words, uncorrelated with the values', async () => {
    const cs = await clients(5);
    const v = clientStats(500, 32, 8, 9);
    const upload = await mask(cs[2]!, v, cs);
    const alone = decodeUnmasked(upload);
    // Decoded alone, the words are uniform over ±2^31: far from V (entries ≤ 500).
    const far = alone.filter((x, i) => Math.abs(x - v[i]!) > 1e6).length;
    expect(far / v.length).toBeGreaterThan(0.99);
    expect(Math.abs(pearson(alone, v))).toBeLessThan(0.1);
    // Every bit of the words is set about half the time (the check: ±5 standard deviations).
    const words = new DataView(upload.buffer, upload.byteOffset + 8);
    const count = words.byteLength / 4;
    for (let bit = 0; bit < 32; bit++) {
      let ones = 0;
      for (let w = 0; w < count; w++) ones += (words.getUint32(w * 4, true) >>> bit) & 1;
      expect(Math.abs(ones - count / 2)).toBeLessThan(5 * Math.sqrt(count / 4));
    }
    // The same vector masked for another round looks unrelated to the first upload.
    const again = decodeUnmasked(await mask(cs[2]!, v, cs, 2));
    expect(Math.abs(pearson(again, alone))).toBeLessThan(0.1);
  });

  it("a pair's masks cancel exactly", async () => {
    const cs = await clients(2);
    const zeros = new Float64Array(50);
    const [a, b] = await Promise.all(cs.map((c) => mask(c, zeros, cs)));
    const ma = decodeUnmasked(a!);
    const mb = decodeUnmasked(b!);
    expect(ma.some((x) => x !== 0)).toBe(true);
    expect(sumMasked([a!, b!])).toEqual(zeros);
    // mask_ab = −mask_ba mod 2^64: decoded alone they are opposite (to the rounding of 63 bits in a double).
    for (let i = 0; i < 50; i++) expect(Math.abs(ma[i]! + mb[i]!)).toBeLessThan(1e-5);
  });

  it('detects a missing, foreign or malformed upload (E_SECURE_AGG); a client’s false values are not detected', async () => {
    const cs = await clients(4);
    const values = cs.map((_, k) => clientStats(100, 8, 3, 20 + k));
    const uploads = await Promise.all(cs.map((c, k) => mask(c, values[k]!, cs)));
    expect(codeOf(() => sumMasked(uploads.slice(1)))).toBe('E_SECURE_AGG'); // a client dropped out
    const otherRound = await mask(cs[0]!, values[0]!, cs, 2);
    expect(codeOf(() => sumMasked([otherRound, ...uploads.slice(1)]))).toBe('E_SECURE_AGG');
    const otherSet = await mask(cs[0]!, values[0]!, cs.slice(0, 3));
    expect(codeOf(() => sumMasked([otherSet, ...uploads.slice(1)]))).toBe('E_SECURE_AGG');
    expect(codeOf(() => sumMasked([...uploads, uploads[0]!]))).toBe('E_SECURE_AGG'); // twice
    expect(codeOf(() => sumMasked([uploads[0]!.subarray(0, 20), ...uploads.slice(1)]))).toBe('E_SECURE_AGG');
    expect(codeOf(() => sumMasked([new Uint8Array(16)]))).toBe('E_SECURE_AGG');
    expect(codeOf(() => sumMasked([]))).toBe('E_SECURE_AGG');
    // A tampered check word is detected; a tampered value word is not (no integrity: use TLS, trust clients).
    const tamper = (at: number): Uint8Array => {
      const t = Uint8Array.from(uploads[1]!);
      t[at] = t[at]! ^ 1;
      return t;
    };
    expect(codeOf(() => sumMasked([uploads[0]!, tamper(uploads[1]!.length - 4), uploads[2]!, uploads[3]!]))).toBe('E_SECURE_AGG');
    const wrong = sumMasked([uploads[0]!, tamper(8 + 4), uploads[2]!, uploads[3]!]);
    const plain = values.reduce((a, b) => a.map((v, i) => v + b[i]!));
    expect(Math.abs(wrong[0]! - plain[0]!)).toBeCloseTo(1, 6);
    // Alone, or with duplicate ids, there is nothing to hide behind.
    expect(await codeOfAsync(mask(cs[0]!, values[0]!, cs.slice(0, 1)))).toBe('E_SECURE_AGG');
    expect(await codeOfAsync(mask(cs[0]!, values[0]!, [...cs, { ...cs[1]!, keys: cs[2]!.keys }]))).toBe('E_SECURE_AGG');
    expect(await codeOfAsync(maskVector(values[0]!, { id: 'x', privateKey: cs[0]!.keys.privateKey }, [{ id: 'y', publicKey: new Uint8Array(65) }], 1))).toBe('E_SECURE_AGG');
  });
});
