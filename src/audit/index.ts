// The inversion-risk audit: for every cut, build what an attacker sees (target.ts), run each
// attack on the probes, score the reconstructions (PSNR, SSIM on the input's pixel range) and
// grade the cut by its strongest attack. Loading data and compressing cuts happen above, in
// the pipeline; this layer gets samples and compression constants.

import { dtypeBits } from '../ir/dtype.js';
import type { Model } from '../ir/graph.js';
import type { CompressionConstants } from '../passes/bottleneck/compress.js';
import { SplitcError } from '../ir/errors.js';
import { cacheKey, readCached, writeCached } from './cache.js';
import type { AuditCut } from './cuts.js';
import { datafreeAttack } from './datafree.js';
import { decoderAttack } from './decoder.js';
import { DEFAULT_THRESHOLDS, psnr, riskLevel, ssim } from './metrics.js';
import type { AuditImages } from './report-html.js';
import { attackTarget, privateInput } from './target.js';
import {
  type Attack,
  type AttackName,
  type AttackOutcome,
  type AttackResult,
  type AttackTarget,
  AUDIT_SCHEMA_VERSION,
  type AuditReport,
  type Budget,
  type CutAudit,
  type DefencePoint,
  type InputRange,
  type Probe,
  type RiskLevel,
  type RiskThresholds,
} from './types.js';
import { whiteboxAttack } from './whitebox.js';
import { createSession, rows, runStacked, stack, targetBatch } from './inverse-net.js';

export * from './types.js';
export { attackTarget, privateInput } from './target.js';
export { resolveCuts, AUTO_CUTS, type AuditCut } from './cuts.js';
export { runWhitebox, WHITEBOX_BUDGETS } from './whitebox.js';
export { defaultCacheDir } from './cache.js';
export { renderAuditHtml, type AuditImages } from './report-html.js';

export const ATTACKS: Record<AttackName, Attack> = { whitebox: whiteboxAttack, decoder: decoderAttack, datafree: datafreeAttack };

export const THREAT_MODEL =
  'An honest-but-curious cloud operator, or anyone on the link, sees exactly what crosses the cut (the dequantized wire values of the bundle) and knows the edge model, its architecture and weights; it never sees the private input. Each attack tries to reconstruct the input from what it sees: by optimisation through the edge model (white-box), with a decoder trained on auxiliary data, or with inverse modules trained on data synthesised from the model itself (data-free).';

export interface CutCompression {
  constants: CompressionConstants;
  wireBytes: number | null;
  utility?: DefencePoint['utility'];
}

/** Samples of the model's input ([C, H, W] each, flattened) and where they came from. */
export interface AuditData {
  samples: Float32Array[];
  ids?: string[];
  source: string;
  sha256: string;
}

export interface AuditProgress {
  cut: number;
  cuts: number;
  attack: AttackName;
  phase: string;
  done: number;
  total: number;
}

export interface AuditCoreOptions {
  model: Model;
  modelSha256: string;
  modelFile?: string;
  cuts: AuditCut[];
  /**
   * A cut's compression (with a defence stage first when `defence` is given): its constants,
   * the bytes per sample on the wire and, for defences, the utility measured on held-back data
   * (null: it crosses uncompressed).
   */
  compression?: (cut: AuditCut, defence?: string) => Promise<CutCompression | null>;
  /** Defence stages to measure at every cut (`noise=0.5`, `dropout=0.25`): utility against privacy. */
  defences?: string[];
  probes: AuditData;
  aux?: AuditData;
  attacks: AttackName[];
  budget: Budget;
  range: InputRange;
  thresholds?: RiskThresholds;
  seed?: number;
  threads?: number;
  /** Folder of cached results; null: no cache. */
  cacheDir?: string | null;
  toolVersion: string;
  onProgress?: (p: AuditProgress) => void;
}

/** What the report's thumbnails are made of. */
export type AuditReconstructions = AuditImages;

export interface AuditRun {
  report: AuditReport;
  images: AuditReconstructions;
}

/** What the attacker observes for each sample: the deployed edge part (defence draws included) run on it, in batches of up to 64. */
export async function observe(target: AttackTarget, samples: readonly Float32Array[], threads = 0): Promise<Float32Array[][]> {
  const observer = target.observer ?? target.model;
  const session = await createSession(observer, threads);
  try {
    // the observer's outputs carry other names (after the defences' draws), in the same order
    const out = await runStacked(session, target.input, stack(samples, target.inputDims), observer.graph.outputs.map((v) => v.name), targetBatch(target, 64));
    const perSample = out.map(rows);
    return samples.map((_, k) => perSample.map((r) => r[k]!));
  } finally {
    await session.release();
  }
}

/** Probes: the samples with what the attacker observes for each. */
async function probesOf(target: AttackTarget, data: AuditData, threads: number): Promise<Probe[]> {
  const zs = await observe(target, data.samples, threads);
  return data.samples.map((x, i) => ({ id: data.ids?.[i] ?? String(i), x, z: zs[i]! }));
}

/** The attack with the highest mean SSIM among those that ran. */
function strongestOf(outcomes: readonly AttackOutcome[]): AttackOutcome | null {
  return outcomes.filter((a) => a.ssim !== null).reduce<AttackOutcome | null>((best, a) => (best === null || a.ssim! > best.ssim! ? a : best), null);
}

/** Per channel to [0, 1] of the valid range: the metrics' pixel range. */
function toUnit(x: Float32Array, dims: readonly number[], range: InputRange): Float32Array {
  const [C, H, W] = dims as [number, number, number];
  const out = new Float32Array(x.length);
  for (let c = 0; c < C; c++) {
    const lo = range.lo[c]!;
    const span = range.hi[c]! - lo || 1;
    for (let i = c * H * W; i < (c + 1) * H * W; i++) out[i] = (x[i]! - lo) / span;
  }
  return out;
}

const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function scoreAttack(result: AttackResult, probes: Probe[], dims: number[], range: InputRange, cached: boolean): AttackOutcome {
  if (result.skipped) return { attack: result.attack, skipped: result.skipped, probes: [], psnr: null, ssim: null, details: result.details, seconds: result.seconds, cached };
  const scores = probes.map((p, i) => {
    const a = toUnit(p.x, dims, range);
    const b = toUnit(result.reconstructions[i]!, dims, range);
    return { id: p.id, psnr: psnr(a, b, 1), ssim: ssim(a, b, dims as [number, number, number], 1), featureDistance: result.featureDistance[i] ?? NaN };
  });
  // PSNR is infinite for an exact reconstruction: averaged as its finite cap (100 dB) so the mean stays a number
  const capped = scores.map((s) => (Number.isFinite(s.psnr) ? s.psnr : 100));
  return { attack: result.attack, probes: scores, psnr: mean(capped), ssim: mean(scores.map((s) => s.ssim)), details: result.details, seconds: result.seconds, cached };
}

const RISK_ORDER: Record<RiskLevel, number> = { low: 0, medium: 1, high: 2 };
export function higherRisk(a: RiskLevel | null, b: RiskLevel | null): RiskLevel | null {
  if (a === null) return b;
  if (b === null) return a;
  return RISK_ORDER[a] >= RISK_ORDER[b] ? a : b;
}
export function riskAtLeast(level: RiskLevel | null, threshold: RiskLevel): boolean {
  return level !== null && RISK_ORDER[level] >= RISK_ORDER[threshold];
}

interface CutRun {
  index: number;
  cut: AuditCut;
  range: InputRange;
  seed: number;
  threads: number;
  warnings: { code: string; message: string }[];
}

/** Every attack on one target, from the cache when it has the result. */
async function attackCut(
  o: AuditCoreOptions,
  c: CutRun & { target: AttackTarget; probes: Probe[]; compression: CompressionConstants | null },
): Promise<{ outcomes: AttackOutcome[]; recon: Partial<Record<AttackName, Float32Array[]>> }> {
  const { cut, target, probes, compression, range, seed, threads } = c;
  const outcomes: AttackOutcome[] = [];
  const recon: Partial<Record<AttackName, Float32Array[]>> = {};
  for (const name of o.attacks) {
    const key = cacheKey({
      model: o.modelSha256,
      cut: [...cut.tensors].sort(),
      compression: compression ? cacheKey({ c: compression }) : 'none',
      attack: name,
      budget: o.budget,
      probes: o.probes.sha256,
      aux: name === 'decoder' ? (o.aux?.sha256 ?? null) : null,
      range,
      seed,
    });
    let result = o.cacheDir ? readCached(o.cacheDir, key) : null;
    const cached = result !== null;
    if (!result) {
      result = await ATTACKS[name].run(target, probes, {
        budget: o.budget,
        seed,
        threads,
        ...(o.aux ? { aux: { samples: o.aux.samples, source: o.aux.source } } : {}),
        onProgress: (p) => o.onProgress?.({ cut: c.index, cuts: o.cuts.length, attack: name, ...p }),
      });
      if (o.cacheDir) writeCached(o.cacheDir, key, result);
    }
    if (result.skipped) c.warnings.push({ code: result.skipped.code, message: `${cut.label}: ${name} skipped: ${result.skipped.message}` });
    else recon[name] = result.reconstructions;
    outcomes.push(scoreAttack(result, probes, target.inputDims, range, cached));
  }
  return { outcomes, recon };
}

/** The defences at one cut: utility (held-back agreement or cosine) against the strongest attack's SSIM, from no defence up. */
async function defenceCurve(
  o: AuditCoreOptions,
  c: CutRun & { compressed: CutCompression | null; strongest: AttackOutcome | null; thresholds: RiskThresholds },
): Promise<DefencePoint[]> {
  const points: DefencePoint[] = [];
  if (c.strongest) {
    points.push({ defence: 'none', utility: c.compressed?.utility ?? { metric: 'top1', value: 1 }, ssim: c.strongest.ssim!, psnr: c.strongest.psnr!, risk: riskLevel(c.strongest.ssim!, c.thresholds) });
  }
  for (const defence of o.defences ?? []) {
    const compressed = await o.compression?.(c.cut, defence);
    if (!compressed?.utility) throw new SplitcError('E_AUDIT', `no utility measured for the defence '${defence}' at ${c.cut.label}`, { hint: 'defences need calibration data (--calib, or the probes)' });
    const target = attackTarget(o.model, { cut: c.cut.tensors, compression: compressed.constants, range: c.range, seed: c.seed });
    const probes = await probesOf(target, o.probes, c.threads);
    const best = strongestOf((await attackCut(o, { ...c, target, probes, compression: compressed.constants })).outcomes);
    if (!best) continue;
    points.push({ defence, utility: compressed.utility, ssim: best.ssim!, psnr: best.psnr!, risk: riskLevel(best.ssim!, c.thresholds) });
  }
  return points;
}

/** An attack whose SSIM is within this of the no-information guess is flagged (W_AUDIT_NEAR_GUESS). */
export const BASELINE_MARGIN = 0.1;

/** Cuts graded above low whose strongest attack does little better than the guess: their level reflects how alike the probes look. */
export function nearGuessWarnings(cuts: readonly CutAudit[], baseline: AuditReport['baseline']): { code: string; message: string }[] {
  return cuts
    .filter((c) => c.ssim !== null && c.risk !== null && c.risk !== 'low' && c.ssim < baseline.ssim + BASELINE_MARGIN)
    .map((c) => ({
      code: 'W_AUDIT_NEAR_GUESS',
      message: `${c.label}: the strongest attack (${c.strongest}, SSIM ${c.ssim!.toFixed(3)}) does little better than a guess without information (the ${baseline.guess === 'aux-mean' ? 'mean auxiliary image' : 'middle of the input range'}, SSIM ${baseline.ssim.toFixed(3)}): the level reflects how alike the probes look, not a leak`,
    }));
}

/** The no-information guess (mean auxiliary image, else mid-range) scored against the probes. */
function guessBaseline(probes: readonly Float32Array[], aux: readonly Float32Array[] | null, dims: readonly number[], range: InputRange): AuditReport['baseline'] {
  const size = dims.reduce((a, d) => a * d, 1);
  const guess = new Float32Array(size);
  if (aux && aux.length) {
    for (const x of aux) for (let i = 0; i < size; i++) guess[i]! += x[i]! / aux.length;
  } else {
    const plane = size / dims[0]!;
    for (let c = 0; c < dims[0]!; c++) guess.fill((range.lo[c]! + range.hi[c]!) / 2, c * plane, (c + 1) * plane);
  }
  const g = toUnit(guess, dims, range);
  const scores = probes.map((p) => {
    const a = toUnit(p, dims, range);
    return { psnr: psnr(a, g, 1), ssim: ssim(a, g, dims as [number, number, number], 1) };
  });
  return { guess: aux && aux.length ? 'aux-mean' : 'mid-range', psnr: mean(scores.map((s) => (Number.isFinite(s.psnr) ? s.psnr : 100))) ?? 0, ssim: mean(scores.map((s) => s.ssim)) ?? 0 };
}

/** Audit the given cuts of a model. */
export async function auditCuts(o: AuditCoreOptions): Promise<AuditRun> {
  const thresholds = o.thresholds ?? DEFAULT_THRESHOLDS;
  const seed = o.seed ?? 1;
  const threads = o.threads ?? 0;
  const cuts: CutAudit[] = [];
  const images: AuditReconstructions = { dims: [0, 0, 0], originals: o.probes.samples, reconstructions: [] };
  const warnings: { code: string; message: string }[] = [];
  const range = o.range;
  for (const [ci, cut] of o.cuts.entries()) {
    const compressed = (await o.compression?.(cut)) ?? null;
    const compression = compressed?.constants ?? null;
    const target = attackTarget(o.model, { cut: cut.tensors, compression, range, seed });
    images.dims = target.inputDims as [number, number, number];
    const probes = await probesOf(target, o.probes, threads);
    const { outcomes, recon } = await attackCut(o, { index: ci, cut, target, probes, compression, range, seed, threads, warnings });
    const strongest = strongestOf(outcomes);
    cuts.push({
      tensors: cut.tensors,
      label: cut.label,
      depth: cut.depth,
      compress: target.compress,
      wireBytes: compressed ? compressed.wireBytes : rawBytesOf(target),
      attacks: outcomes,
      strongest: strongest?.attack ?? null,
      ssim: strongest?.ssim ?? null,
      psnr: strongest?.psnr ?? null,
      risk: strongest ? riskLevel(strongest.ssim!, thresholds) : null,
      ...(o.defences?.length ? { defences: await defenceCurve(o, { index: ci, cut, compressed, strongest, range, seed, threads, warnings, thresholds }) } : {}),
    });
    images.reconstructions.push(recon);
  }
  const input = privateInput(o.model);
  const baseline = guessBaseline(o.probes.samples, o.aux?.samples ?? null, input.dims, range);
  warnings.push(...nearGuessWarnings(cuts, baseline));
  const report: AuditReport = {
    kind: 'splitc-audit',
    schemaVersion: AUDIT_SCHEMA_VERSION,
    tool: { name: 'splitc', version: o.toolVersion },
    model: { ...(o.modelFile ? { file: o.modelFile } : {}), sha256: o.modelSha256, input: input.name, inputDims: input.dims },
    probes: { source: o.probes.source, sha256: o.probes.sha256, count: o.probes.samples.length },
    aux: o.aux ? { source: o.aux.source, sha256: o.aux.sha256, count: o.aux.samples.length } : null,
    budget: o.budget,
    attacks: o.attacks,
    thresholds,
    range,
    threatModel: THREAT_MODEL,
    cuts,
    risk: cuts.reduce<RiskLevel | null>((r, c) => higherRisk(r, c.risk), null),
    baseline,
    warnings,
  };
  return { report, images };
}

/** Bytes per sample of the uncompressed cut tensors. */
function rawBytesOf(target: AttackTarget): number | null {
  let bits = 0;
  for (const o of target.observed) {
    const dt = target.model.graph.outputs.find((x) => x.name === o.name)?.dtype;
    if (dt === undefined || dtypeBits(dt) === 0) return null;
    bits += o.dims.reduce((a, d) => a * d, 1) * dtypeBits(dt);
  }
  return Math.ceil(bits / 8);
}
