// `splitc split`'s printing: the summary of a bundle for people (the work is in src/pipeline/split.ts).

import { formatFidelity } from '../search/fidelity.js';
import type { Dim } from '../ir/graph.js';
import type { SplitReport, SplitRun } from '../pipeline/split.js';
import { bytes, si, table } from './format.js';

export { runSplit, SPLIT_SCHEMA_VERSION, type SplitOptions, type SplitReport, type SplitRun } from '../pipeline/split.js';

function shapeText(s: Dim[]): string {
  return s.map((d) => (d === null ? '?' : String(d))).join('×');
}

/** The bundle's audit in one line: risk and figures, or why there is none. */
function auditLine(a: SplitReport['audit']): string {
  if (!a || typeof a !== 'object' || Array.isArray(a)) return 'inversion risk: not audited';
  if (typeof a.skipped === 'string') return `inversion risk: not audited (${a.skipped})`;
  const n = (v: unknown, d: number): string => (typeof v === 'number' ? v.toFixed(d) : '?');
  const probes = a.probes && typeof a.probes === 'object' && !Array.isArray(a.probes) ? a.probes.count : '?';
  return `inversion risk: ${String(a.risk)} (${String(a.attack)} attack, SSIM ${n(a.ssim, 3)}, PSNR ${n(a.psnr, 1)} dB on ${String(probes)} probes; report/report.html)`;
}

export function formatSplit(r: SplitReport): string {
  const lines: string[] = [];
  lines.push(`bundle ${r.bundle} (${r.files.length} files) from ${r.source.file}`);
  const ratio = r.bytesPerSample.rawInputs > 0 ? ` = ${((100 * r.bytesPerSample.wire) / r.bytesPerSample.rawInputs).toFixed(1)}% of the raw input (${bytes(r.bytesPerSample.rawInputs)})` : '';
  lines.push(`cut: ${r.cut.tensors.length} tensor${r.cut.tensors.length === 1 ? '' : 's'}, ${bytes(r.bytesPerSample.wire)} per sample on the wire${ratio}`);
  if (r.cut.dropped.length) lines.push(`  not sent (the cloud does not need them): ${r.cut.dropped.join(', ')}`);
  lines.push(
    table(
      ['wire tensor', 'type', 'shape', 'bytes/sample'],
      r.wire.map((w) => [w.name, w.dtype, shapeText(w.shape), String(w.bytesPerSample)]),
      [false, false, false, true],
    ),
  );
  lines.push(
    table(
      ['part', 'nodes', 'MACs', 'weights', 'outputs'],
      [
        ['edge', String(r.edge.nodes), si(r.edge.macs), bytes(r.edge.paramBytes), r.edge.outputs.join(', ') || '(wire only)'],
        ['cloud', String(r.cloud.nodes), si(r.cloud.macs), bytes(r.cloud.paramBytes), r.cloud.outputs.join(', ')],
      ],
      [false, true, true, true, false],
    ),
  );
  lines.push(`compression: ${r.compression.spec}`);
  const t = r.compression.training as { epochs: number; samples: number; steps: number; initialAgreement: number; history: { heldOutAgreement: number }[] } | undefined;
  if (t) {
    const last = t.history.at(-1)?.heldOutAgreement ?? t.initialAgreement;
    lines.push(`training: ${t.epochs} epochs on ${t.samples} samples (${t.steps} steps); held-back agreement ${pct(t.initialAgreement)} at the PCA start → ${pct(last)}`);
  }
  lines.push(auditLine(r.audit));
  lines.push(
    r.triton.maxBatchSize > 0
      ? `triton: ${r.triton.config} (max_batch_size ${r.triton.maxBatchSize}, dynamic batching)`
      : `triton: ${r.triton.config} (no batching: ${r.triton.noBatchingReason})`,
  );
  return lines.join('\n');
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Everything `split` and `build` print: warnings on stderr, the summary and the fidelity figures on stdout. */
export function printSplit(run: Pick<SplitRun, 'report' | 'fidelity'>, out: { stdout: (s: string) => void; stderr: (s: string) => void }): void {
  for (const w of run.report.warnings) out.stderr(`warning ${w.code}: ${w.message}${w.location ? ` (at ${w.location})` : ''}\n`);
  out.stdout(formatSplit(run.report) + '\n');
  if (run.fidelity) out.stdout(formatFidelity(run.fidelity) + '\n');
}
