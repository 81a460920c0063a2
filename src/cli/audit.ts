// `splitc audit`: the report in a terminal table (the full figures are in report.json and
// report.html). Only printing here; the work is src/pipeline/audit.ts.

import type { AuditPipelineRun } from '../pipeline/audit.js';
import { formatBytes } from '../ir/units.js';

const num = (v: number | null, digits: number): string => (v === null ? '–' : Number.isFinite(v) ? v.toFixed(digits) : '∞');

export function formatAudit(run: AuditPipelineRun): string {
  const r = run.report;
  const lines: string[] = [];
  lines.push(`audit of ${r.model.file ?? 'model'} (${r.model.input} [${r.model.inputDims.join('×')}]): ${r.probes.count} probes from ${r.probes.source}, budget ${r.budget}, attacks ${r.attacks.join(', ')}`);
  const head = ['cut', 'depth', 'compress', 'wire', ...r.attacks.map((a) => `${a} PSNR/SSIM`), 'risk'];
  const rows = r.cuts.map((c) => [
    c.label,
    `${(c.depth * 100).toFixed(0)}%`,
    c.compress,
    c.wireBytes === null ? '?' : formatBytes(c.wireBytes),
    ...r.attacks.map((a) => {
      const o = c.attacks.find((x) => x.attack === a);
      if (!o) return '–';
      if (o.skipped) return `skipped (${o.skipped.code})`;
      return `${num(o.psnr, 1)} dB / ${num(o.ssim, 3)}${o.cached ? ' (cached)' : ''}`;
    }),
    c.risk ?? '–',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((s, i) => s.padEnd(widths[i]!)).join('  ').trimEnd();
  lines.push('', fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt));
  lines.push('', `highest risk: ${r.risk ?? 'none measured'} (SSIM ≥ ${r.thresholds.high} high, ≥ ${r.thresholds.medium} medium, of the strongest attack)`);
  lines.push(`a guess without information (${r.baseline.guess === 'aux-mean' ? 'the mean auxiliary image' : 'mid-range'}) scores ${num(r.baseline.psnr, 1)} dB / ${num(r.baseline.ssim, 3)}`);
  for (const w of run.warnings) lines.push(`warning ${w.code}: ${w.message}`);
  for (const f of run.files) lines.push(`wrote ${f}`);
  return lines.join('\n');
}
