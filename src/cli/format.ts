// Human-readable numbers and tables for terminal output.

export function si(n: number, digits = 3): string {
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (abs >= scale) return `${(n / scale).toPrecision(digits)}${unit}`;
  return String(n);
}

/** Byte sizes: the one formatter of every printer (binary units, three significant digits). */
export { formatBytes as bytes } from '../ir/units.js';

/** Left-aligned text columns, right-aligned numeric columns. */
export function table(header: string[], rows: string[][], numeric: boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}
