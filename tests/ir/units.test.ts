// The one byte-size formatter every printer uses: binary (IEC) units, three significant
// digits, never a unit value of 1024 or more.
import { describe, expect, it } from 'vitest';
import { bytes } from '../../src/cli/format.js';
import { formatBytes } from '../../src/ir/units.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.00 KiB'],
    [1536, '1.50 KiB'],
    [10 * KiB, '10.0 KiB'],
    [100 * KiB - 1, '100 KiB'], // 99.999 KiB: three digits, not "100.00"
    [10 * KiB - 1, '10.0 KiB'], // 9.999 KiB
    [1000 * KiB, '1000 KiB'],
    [MiB - 1, '1.00 MiB'], // 1023.999 KiB rounds into the next unit
    [MiB, '1.00 MiB'],
    [10 * MiB, '10.0 MiB'],
    [84810854, '80.9 MiB'], // what `grad` printed as 82823.1 KiB
    [GiB - 1, '1.00 GiB'],
    [GiB, '1.00 GiB'],
    [1.5 * GiB, '1.50 GiB'],
    [4096 * GiB, '4.00 TiB'],
  ])('%d → %s', (n, text) => {
    expect(bytes(n)).toBe(text);
  });

  it('never prints four or more digits before the point except 1000–1023 of a unit', () => {
    for (let e = 0; e < 44; e += 0.01) {
      const text = bytes(Math.round(2 ** e));
      const [num, unit] = text.split(' ');
      expect(Number(num)).toBeLessThan(1024);
      if (unit !== 'B') expect(num!.replace('.', '').replace(/^0+/, '').length).toBeLessThanOrEqual(4);
    }
  });

  it('is the one formatter: the CLI re-exports it', () => {
    expect(bytes).toBe(formatBytes);
  });

  it('rounds fractional bytes and keeps the sign', () => {
    expect(bytes(12.4)).toBe('12 B');
    expect(bytes(-1536)).toBe('-1.50 KiB');
  });
});
