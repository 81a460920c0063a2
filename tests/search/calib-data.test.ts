import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel } from '../../src/ir/serde/io.js';
import { PassContext } from '../../src/passes/pass.js';
import {
  calibrationSamples,
  decodeImage,
  IMAGE_PRESETS,
  imageSamples,
  modelInputs,
  npySamples,
  parseImagePreprocess,
  parseNpy,
  preprocessImage,
  randomSamples,
  type RgbaImage,
  splitSamples,
} from '../../src/search/calib-data.js';
import { fixtures, tmpDir } from '../helpers/fixtures.js';
import { computeTextLineCrops, cropsFile, cropsFileText, imagesDir, textLineCrops, writeTextLineImages } from '../helpers/text-lines.js';
import { codeOf } from '../helpers/codes.js';
import { npy } from '../helpers/npy.js';

const img = (width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): RgbaImage => {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, y);
      data.set([r, g, b, 255], (y * width + x) * 4);
    }
  return { width, height, data };
};

describe('real text-line images (fixtures/images)', () => {
  it('the source images match the manifest, and the crop list regenerates identically', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(imagesDir, 'manifest.json'), 'utf8')) as { images: { file: string; sha256: string; bytes: number }[] };
    for (const m of manifest.images) {
      const bytes = fs.readFileSync(path.join(imagesDir, m.file));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
      expect(bytes.length).toBe(m.bytes);
    }
    const text = cropsFileText(computeTextLineCrops());
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(cropsFile, text);
    expect(text).toBe(fs.readFileSync(cropsFile, 'utf8'));
  });

  it('≥ 200 crops from ≥ 15 real lines, half of them rotated by 180°', () => {
    const crops = textLineCrops();
    expect(crops.length).toBeGreaterThanOrEqual(200);
    expect(crops.filter((c) => c.rotated).length).toBe(crops.length / 2);
    expect(new Set(crops.map((c) => `${c.source}#${c.line}`)).size).toBeGreaterThanOrEqual(15);
    expect(new Set(crops.map((c) => c.id)).size).toBe(crops.length);
  });

  it('a folder of PNGs with labels.json loads as classifier inputs (PaddleOCR preprocessing)', () => {
    const dir = tmpDir();
    try {
      const crops = textLineCrops().slice(0, 6);
      writeTextLineImages(dir, crops);
      const fx = fixtures().find((f) => f.file.includes('cls'))!;
      const inputs = modelInputs(loadModel(fx.path), fx.inputShapes);
      expect(inputs).toEqual([{ name: 'x', dtype: DataType.FLOAT, dims: [1, 3, 48, 192] }]);
      const samples = calibrationSamples({ kind: 'images', dir, preprocess: parseImagePreprocess('paddleocr-cls') }, inputs);
      expect(samples.map((s) => s.id)).toEqual(crops.map((c) => `${c.id}.png`).sort());
      expect(samples.map((s) => s.label)).toEqual([...crops].sort((a, b) => (a.id < b.id ? -1 : 1)).map((c) => c.label));
      const x = samples[0]!.load().x!;
      expect(x.dims).toEqual([1, 3, 48, 192]);
      const data = x.data as Float32Array;
      expect(Math.min(...data)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...data)).toBeLessThanOrEqual(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('image preprocessing', () => {
  it('pad mode keeps the aspect ratio, normalizes, pads the right with padValue; BGR order', () => {
    const im = img(4, 2, (x, y) => [x * 10, y * 100, 200]);
    const pre = IMAGE_PRESETS['paddleocr-cls']!;
    const out = preprocessImage(im, [1, 3, 2, 8], pre);
    const at = (c: number, y: number, x: number) => out[(c * 2 + y) * 8 + x]!;
    // resized width = min(8, ceil(2·4/2)) = 4: same size, so pixels are copied exactly
    for (let x = 0; x < 4; x++) {
      expect(at(0, 1, x)).toBeCloseTo((200 / 255 - 0.5) / 0.5, 6); // B
      expect(at(1, 1, x)).toBeCloseTo((100 / 255 - 0.5) / 0.5, 6); // G
      expect(at(2, 0, x)).toBeCloseTo(((x * 10) / 255 - 0.5) / 0.5, 6); // R
    }
    for (let x = 4; x < 8; x++) for (let c = 0; c < 3; c++) expect(at(c, 0, x)).toBe(0);
    // a long line is squeezed to the full width
    const wide = preprocessImage(img(40, 2, () => [255, 255, 255]), [1, 3, 2, 8], pre);
    expect(Array.from(wide).every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
  });

  it('stretch mode is bilinear with half-pixel centres (OpenCV INTER_LINEAR); NHWC and gray inputs', () => {
    const im = img(2, 1, (x) => [x * 255, 0, 0]);
    const out = preprocessImage(im, [1, 1, 4, 1], { ...IMAGE_PRESETS.unit!, layout: 'NHWC', scale: 1 });
    // one gray channel: 0.299·R
    [0, 63.75, 191.25, 255].forEach((v, i) => expect(out[i]).toBeCloseTo(0.299 * v, 4));
    const nchw = preprocessImage(im, [1, 3, 1, 4], { ...IMAGE_PRESETS.unit!, scale: 1 });
    expect(Array.from(nchw.subarray(0, 4))).toEqual([0, 63.75, 191.25, 255]);
    expect(codeOf(() => preprocessImage(im, [1, 4, 2, 2], IMAGE_PRESETS.unit!))).toBe('E_CALIB');
    expect(codeOf(() => preprocessImage(im, [2, 3, 2, 2], IMAGE_PRESETS.unit!))).toBe('E_CALIB');
  });

  it('decodes PNG and JPEG by signature; anything else is E_CALIB', () => {
    const png = new PNG({ width: 3, height: 2 });
    png.data.fill(128);
    const p = decodeImage(PNG.sync.write(png));
    expect([p.width, p.height, p.data[0]]).toEqual([3, 2, 128]);
    const j = decodeImage(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 200) }, 95).data);
    expect([j.width, j.height]).toEqual([8, 8]);
    expect(Math.abs(j.data[0]! - 200)).toBeLessThanOrEqual(2);
    expect(codeOf(() => decodeImage(new Uint8Array([1, 2, 3, 4]), 'x.png'))).toBe('E_CALIB');
    expect(codeOf(() => decodeImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), 'broken.png'))).toBe('E_CALIB');
  });

  it('preprocessing text: presets, key=value overrides, clear errors', () => {
    expect(parseImagePreprocess('paddleocr-cls')).toEqual(IMAGE_PRESETS['paddleocr-cls']);
    expect(parseImagePreprocess('imagenet,layout=NHWC,order=BGR')).toMatchObject({ layout: 'NHWC', channelOrder: 'BGR', mean: [0.485, 0.456, 0.406] });
    expect(parseImagePreprocess('resize=pad,scale=1/255,mean=0.5,std=0.5:0.25:0.5')).toMatchObject({ resize: 'pad', scale: 1 / 255, mean: [0.5], std: [0.5, 0.25, 0.5] });
    for (const bad of ['nope', 'resize=crop', 'scale=abc', 'std=0', 'layout=CHW', 'unit,imagenet']) expect(codeOf(() => parseImagePreprocess(bad))).toBe('E_BAD_ARGUMENT');
  });

  it('an empty or missing folder is a clear error', () => {
    const dir = tmpDir();
    try {
      const input = { name: 'x', dtype: DataType.FLOAT, dims: [1, 3, 4, 4] };
      expect(codeOf(() => imageSamples(dir, input, IMAGE_PRESETS.unit!))).toBe('E_CALIB');
      expect(codeOf(() => imageSamples(path.join(dir, 'missing'), input, IMAGE_PRESETS.unit!))).toBe('E_IO');
      fs.writeFileSync(path.join(dir, 'fake.png'), 'not an image');
      const [s] = imageSamples(dir, input, IMAGE_PRESETS.unit!);
      expect(codeOf(() => s!.load())).toBe('E_CALIB');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('.npy samples', () => {
  const input = { name: 'x', dtype: DataType.FLOAT, dims: [1, 2, 3] };

  it('reads float32/float64/int C-order arrays, one sample or a batch per file', () => {
    const dir = tmpDir();
    try {
      fs.writeFileSync(path.join(dir, 'a.npy'), npy('<f4', [1, 2, 3], Float32Array.of(1, 2, 3, 4, 5, 6.5)));
      fs.writeFileSync(path.join(dir, 'b.npy'), npy('<f8', [2, 2, 3], Float64Array.from({ length: 12 }, (_, i) => i / 4), { version: 2 }));
      fs.writeFileSync(path.join(dir, 'c.npy'), npy('<i8', [1, 2, 3], BigInt64Array.from([1n, -2n, 3n, 4n, 5n, 6n])));
      fs.writeFileSync(path.join(dir, 'd.npy'), npy('|u1', [1, 2, 3], Uint8Array.of(0, 1, 2, 250, 251, 255)));
      const samples = npySamples(dir, input);
      expect(samples.map((s) => s.id)).toEqual(['a.npy', 'b.npy#0', 'b.npy#1', 'c.npy', 'd.npy']);
      expect(Array.from(samples[0]!.load().x!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6.5]);
      expect(Array.from(samples[2]!.load().x!.data as Float32Array)).toEqual([1.5, 1.75, 2, 2.25, 2.5, 2.75]);
      expect(Array.from(samples[3]!.load().x!.data as Float32Array)).toEqual([1, -2, 3, 4, 5, 6]);
      expect(Array.from(samples[4]!.load().x!.data as Float32Array)).toEqual([0, 1, 2, 250, 251, 255]);
      // an int64 input gets int64 data
      const ints = npySamples(path.join(dir, 'c.npy'), { name: 'ids', dtype: DataType.INT64, dims: [1, 2, 3] });
      expect(Array.from(ints[0]!.load().ids!.data as BigInt64Array)).toEqual([1n, -2n, 3n, 4n, 5n, 6n]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad magic, Fortran order, big-endian, unknown dtypes, truncation, wrong shapes', () => {
    const f32 = Float32Array.of(1, 2, 3, 4, 5, 6);
    expect(codeOf(() => parseNpy(new Uint8Array(20)))).toBe('E_CALIB');
    expect(codeOf(() => parseNpy(npy('<f4', [1, 2, 3], f32, { fortran: true })))).toBe('E_CALIB');
    expect(codeOf(() => parseNpy(npy('>f4', [1, 2, 3], f32)))).toBe('E_CALIB');
    expect(codeOf(() => parseNpy(npy('<c8', [1, 2, 3], f32)))).toBe('E_CALIB');
    expect(codeOf(() => parseNpy(npy('<f4', [1, 2, 4], f32)))).toBe('E_CALIB');
    const dir = tmpDir();
    try {
      fs.writeFileSync(path.join(dir, 'w.npy'), npy('<f4', [3, 2], f32));
      expect(codeOf(() => npySamples(path.join(dir, 'w.npy'), input))).toBe('E_CALIB');
      expect(codeOf(() => npySamples(path.join(dir, 'none.npy'), input))).toBe('E_IO');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('random samples and splitting', () => {
  it('random data is seeded, fits every input, and warns that its ranges are unreliable', () => {
    const ctx = new PassContext();
    const inputs = [
      { name: 'x', dtype: DataType.FLOAT, dims: [1, 3] },
      { name: 'n', dtype: DataType.INT64, dims: [2] },
    ];
    const a = calibrationSamples({ kind: 'random', count: 3, seed: 5 }, inputs, ctx);
    const b = randomSamples(inputs, 3, { seed: 5 });
    expect(ctx.diagnostics.map((d) => d.code)).toEqual(['W_CALIB_RANDOM']);
    expect(Array.from(a[1]!.load().x!.data as Float32Array)).toEqual(Array.from(b[1]!.load().x!.data as Float32Array));
    expect(Array.from(a[1]!.load().x!.data as Float32Array)).not.toEqual(Array.from(a[2]!.load().x!.data as Float32Array));
    expect(a[0]!.load().n!.data).toBeInstanceOf(BigInt64Array);
    for (const v of a[0]!.load().x!.data as Float32Array) expect(Math.abs(v)).toBeLessThanOrEqual(1);
  });

  it('images and npy need one input (or a name); unknown names are E_CALIB', () => {
    const two = [
      { name: 'a', dtype: DataType.FLOAT, dims: [1, 3, 2, 2] },
      { name: 'b', dtype: DataType.FLOAT, dims: [1, 3, 2, 2] },
    ];
    expect(codeOf(() => calibrationSamples({ kind: 'npy', files: [] }, two))).toBe('E_CALIB');
    expect(codeOf(() => calibrationSamples({ kind: 'npy', files: [], input: 'c' }, two))).toBe('E_CALIB');
  });

  it('splits deterministically, keeping groups on one side', () => {
    const items = Array.from({ length: 40 }, (_, i) => ({ id: `s${i}`, group: `g${Math.floor(i / 4)}` }));
    const a = splitSamples(items, { heldOutFraction: 0.5, seed: 3, groupOf: (s) => s.group });
    const b = splitSamples(items, { heldOutFraction: 0.5, seed: 3, groupOf: (s) => s.group });
    expect(a).toEqual(b);
    expect(a.calibration.length + a.heldOut.length).toBe(40);
    expect(a.heldOut.length).toBe(20);
    const held = new Set(a.heldOut.map((s) => s.group));
    for (const s of a.calibration) expect(held.has(s.group)).toBe(false);
  });
});

describe('progress', () => {
  it('calibrationSamples counts the .npy files it reads, and ends at the total for every source', () => {
    const dir = tmpDir();
    const input = { name: 'x', dtype: DataType.FLOAT, dims: [1, 2] };
    try {
      for (const name of ['a.npy', 'b.npy', 'c.npy']) fs.writeFileSync(path.join(dir, name), npy('<f4', [2, 2], new Float32Array([1, 2, 3, 4])));
      const seen: { done: number; total: number }[] = [];
      const samples = calibrationSamples({ kind: 'npy', files: dir }, [input], undefined, (p) => seen.push(p));
      expect(samples.length).toBe(6);
      expect(seen).toEqual([
        { done: 1, total: 3 },
        { done: 2, total: 3 },
        { done: 3, total: 3 },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const random: { done: number; total: number }[] = [];
    calibrationSamples({ kind: 'random', count: 5 }, [input], new PassContext(), (p) => random.push(p));
    expect(random.at(-1)).toEqual({ done: 5, total: 5 });
  });
});
