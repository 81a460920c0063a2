// The shapes the audit passes around: what an attacker attacks (the edge part up to what
// crosses the cut, as the cloud decodes it), what each attack returns, and the report.

import type { Model } from '../ir/graph.js';

export type AttackName = 'whitebox' | 'decoder' | 'datafree';
export const ATTACK_NAMES: readonly AttackName[] = ['whitebox', 'decoder', 'datafree'];

export type Budget = 'fast' | 'standard' | 'thorough';
export const BUDGETS: readonly Budget[] = ['fast', 'standard', 'thorough'];

export type RiskLevel = 'high' | 'medium' | 'low';

/** SSIM at or above `high` is high risk, at or above `medium` medium, below it low. */
export interface RiskThresholds {
  high: number;
  medium: number;
}

/** Valid range of the private input, per channel (the attack keeps x̂ inside it; the metrics use hi − lo). */
export interface InputRange {
  lo: number[];
  hi: number[];
}

/**
 * What the attacker attacks: the edge part from the private input to the values the cloud
 * decodes from the wire (for a compressed cut, the dequantized wire values; quantisation's
 * rounding is a Floor node whose gradient the white-box attack passes straight through).
 * `model` is a standalone IR model, batch dim symbolic ('N'), BatchNorm in inference mode.
 */
export interface AttackTarget {
  model: Model;
  /** The private input (one image-like input [N, C, H, W]). */
  input: string;
  /** Dims of one sample of the input, without the batch dim: [C, H, W]. */
  inputDims: number[];
  /** What the attacker observes, in the order of the model's outputs; dims without the batch dim. */
  observed: { name: string; dims: number[] }[];
  range: InputRange;
  /** Names of the Floor nodes that round quantisation codes (straight-through in gradients). */
  straightThrough: string[];
  /** The cut tensors (in the original model) and the compression spec ('none' when uncompressed). */
  cut: string[];
  compress: string;
  /**
   * With defences (noise, dropout) at the cut: the edge part as deployed, random draws included
   * (seeded), which produces what is observed; `model` is then the attacker's deterministic model
   * of it (the defences' expectation), which the optimisation differentiates. An attacker who
   * trains on its own data (decoder) runs `observer`: the defence ships in the public edge graph.
   */
  observer?: Model;
}

/** One private input the attack tries to reconstruct, and what crossed the cut for it. */
export interface Probe {
  id: string;
  /** The input, [C, H, W] flattened. */
  x: Float32Array;
  /** The observed values, one per `AttackTarget.observed`, one sample each (flattened). */
  z: Float32Array[];
}

/** Unlabelled auxiliary inputs a learned attacker trains on (disjoint from the probes). */
export interface AuxData {
  /** Each [C, H, W] flattened, in the model's input space. */
  samples: Float32Array[];
  source: string;
}

export interface AttackProgress {
  (p: { phase: string; done: number; total: number }): void;
}

export interface AttackContext {
  budget: Budget;
  seed: number;
  /** onnxruntime intra-op threads (0: its default). */
  threads: number;
  aux?: AuxData;
  onProgress?: AttackProgress;
}

export interface AttackResult {
  attack: AttackName;
  /** One reconstruction per probe, [C, H, W] flattened (empty when skipped). */
  reconstructions: Float32Array[];
  /** Mean squared distance between E(x̂) and z per probe, relative to mean(z²). */
  featureDistance: number[];
  /** Set when the attack could not run here (e.g. no BatchNorm for the data-free attack, no --aux for the decoder). */
  skipped?: { code: string; message: string };
  /** What the attack did (steps, restarts, epochs, …), for the report. */
  details: Record<string, number | string>;
  seconds: number;
}

export interface Attack {
  name: AttackName;
  run(target: AttackTarget, probes: Probe[], ctx: AttackContext): Promise<AttackResult>;
}

// ---- report.json ----

export const AUDIT_SCHEMA_VERSION = 1;

export interface ProbeScore {
  id: string;
  psnr: number;
  ssim: number;
  featureDistance: number;
}

export interface AttackOutcome {
  attack: AttackName;
  skipped?: { code: string; message: string };
  probes: ProbeScore[];
  /** Means over the probes (null when skipped). */
  psnr: number | null;
  ssim: number | null;
  details: Record<string, number | string>;
  seconds: number;
  /** True when the figures came from the cache. */
  cached: boolean;
}

export interface DefencePoint {
  /** The defence stage, e.g. 'noise=0.5' or 'dropout=0.25'. */
  defence: string;
  /** Utility: top-1 agreement with the original (classifiers) or output cosine. */
  utility: { metric: 'top1' | 'cosine'; value: number };
  /** Privacy: SSIM of the strongest attack under the defence. */
  ssim: number;
  psnr: number;
  risk: RiskLevel;
}

export interface CutAudit {
  /** Cut tensors (in the original model). */
  tensors: string[];
  /** How the cut was named: 'after:<node>', a tensor list, or 'input'. */
  label: string;
  /** Share of the model's MACs on the edge (0 at the input, 1 at the output): the cut's depth. */
  depth: number;
  compress: string;
  /** Bytes crossing the cut per sample. */
  wireBytes: number | null;
  attacks: AttackOutcome[];
  /** The attack with the highest mean SSIM (null when every attack was skipped). */
  strongest: AttackName | null;
  ssim: number | null;
  psnr: number | null;
  risk: RiskLevel | null;
  defences?: DefencePoint[];
}

export interface AuditReport {
  kind: 'splitc-audit';
  schemaVersion: typeof AUDIT_SCHEMA_VERSION;
  tool: { name: 'splitc'; version: string };
  model: { file?: string; sha256: string; input: string; inputDims: number[] };
  probes: { source: string; sha256: string; count: number };
  aux: { source: string; sha256: string; count: number } | null;
  budget: Budget;
  attacks: AttackName[];
  thresholds: RiskThresholds;
  range: InputRange;
  threatModel: string;
  cuts: CutAudit[];
  /** The highest risk over the cuts (null when no attack ran). */
  risk: RiskLevel | null;
  /**
   * What a guess without any information scores against the probes: the mean auxiliary image
   * (with --aux), else the middle of the input range. An attack near it reconstructs the data
   * set's look (a white page, a dark background), not the probe.
   */
  baseline: { guess: 'aux-mean' | 'mid-range'; psnr: number; ssim: number };
  warnings: { code: string; message: string }[];
}
