// Byte sizes as people read them, the one convention of every printer (CLI tables, summaries,
// fidelity lines): binary IEC units (1 KiB = 1024 B) with three significant digits.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * "0 B", "1023 B", "1.50 KiB", "10.0 MiB", "1000 KiB": whole bytes below 1 KiB, otherwise
 * three significant digits (whole units from 1000 to 1023). A value that would round to 1024
 * of a unit is printed in the next one ("1.00 MiB", never "1024 KiB" or "82823.1 KiB").
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  let u = 0;
  while (u < BYTE_UNITS.length - 1 && v >= 1024) {
    v /= 1024;
    u++;
  }
  // toPrecision(3) already gives "9.99"/"10.0"/"100"; whole numbers from 1000 on
  let text = u === 0 || v >= 999.5 ? String(Math.round(v)) : v.toPrecision(3);
  if (Number(text) >= 1024 && u < BYTE_UNITS.length - 1) {
    u++;
    text = (v / 1024).toPrecision(3);
  }
  return `${sign}${text} ${BYTE_UNITS[u]}`;
}
