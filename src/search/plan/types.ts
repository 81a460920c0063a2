// The plan `splitc plan` writes and `splitc build` reads (docs/plan.md), and the options and
// constraints a plan is made under.

import type { Dim } from '../../ir/graph.js';
import type { DeviceProfile, LinkProfile } from '../profiles/types.js';

export const PLAN_SCHEMA_VERSION = 1;

export type Objective = 'latency' | 'energy';

export interface PlanConstraints {
  /** Weights + peak activations of the edge part, bytes (default: the edge profile's memoryBytes). */
  maxEdgeMemoryBytes?: number;
  /** Bytes sent edge → cloud per sample (batch 1). */
  maxBytesPerSample?: number;
  /** Minimum top-1 agreement with the original model (0..1), measured by `measureAgreement`. */
  minAgreement?: number;
  /**
   * Maximum inversion risk of the transmitted tensors: looked up in `riskTable`, or measured by
   * `measureRisk` (the SSIM of the strongest attack) for the candidates the choice needs.
   */
  maxRisk?: number;
  /** The risk must be strictly below `maxRisk` (a risk level's lower bound, e.g. SSIM < 0.3 for 'low'). */
  maxRiskExclusive?: boolean;
}

/** Inversion risk per cut (the privacy audit fills it); a cut not listed counts as unknown. */
export interface RiskEntry {
  tensors: string[];
  risk: number;
}

export interface PlanOptions {
  edge: DeviceProfile;
  cloud: DeviceProfile;
  link: LinkProfile;
  objective?: Objective;
  /** Compression spec texts to consider (default ['none']); 'none' is always added. */
  compressOptions?: string[];
  inputShapes?: Record<string, Dim[]>;
  /** sha256 of the model file: selects measured node latencies in the device profiles. */
  modelSha256?: string;
  constraints?: PlanConstraints;
  riskTable?: RiskEntry[];
  /** Measures top-1 agreement of a split with a lossy compression (needed for minAgreement). */
  measureAgreement?: (cutTensors: string[], compress: string) => Promise<number>;
  /** Most candidates to measure fidelity for before giving up (default 8). */
  maxFidelityMeasurements?: number;
  /**
   * Measures the inversion risk of a split (the audit's strongest-attack SSIM on the dequantized
   * wire): needed for `maxRisk` without a risk table entry. Cloud-only sends the input itself:
   * its risk is 1, never measured.
   */
  measureRisk?: (cutTensors: string[], compress: string) => Promise<number>;
  /** Most candidates to measure the risk of before giving up (default 8). */
  maxRiskMeasurements?: number;
}

/** Predicted figures of one way to run the model. */
export interface CandidateFigures {
  edgeMs: number;
  uplinkMs: number;
  rttMs: number;
  cloudMs: number;
  downlinkMs: number;
  totalMs: number;
  /** Edge device energy per sample (compute + send + wait), joules; null without energy figures. */
  edgeEnergyJ: number | null;
  bytesPerSample: number;
  edgeMemoryBytes: number;
  edgeNodes: number;
  cloudNodes: number;
}

export interface Candidate extends CandidateFigures {
  kind: 'edge-only' | 'cloud-only' | 'split';
  /** Tensors sent edge → cloud (names, graph order); [] for edge-only. */
  cutTensors: string[];
  compress: string;
  /** Where the candidate came from: 'optimum', 'prefix', 'sweep', 'inputs' (cloud-only, inputs compressed), 'baseline'. */
  source: string;
  /** Measured top-1 agreement (null: not measured; 1 for no compression). */
  agreement: number | null;
  risk: number | null;
  /** Constraints this candidate breaks (names), empty when feasible. */
  violates: string[];
  /** Why the candidate cannot be built or measured (a coded error), when it cannot: it is then infeasible, never fatal. */
  infeasible?: string;
}

export interface Plan {
  kind: 'splitc-plan';
  schemaVersion: number;
  model: { file?: string; sha256?: string; inputShapes: Record<string, Dim[]> };
  objective: Objective;
  profiles: { edge: DeviceProfile; cloud: DeviceProfile; link: LinkProfile };
  compressOptions: string[];
  constraints: PlanConstraints;
  chosen: Candidate;
  /** True when `chosen` is the exact optimum of the objective (the unconstrained min-cut optimum met every constraint). */
  exact: boolean;
  baselines: { edgeOnly: Candidate; cloudOnly: Candidate };
  /**
   * The chosen plan's gain over the better baseline that meets the constraints (its objective ÷
   * the chosen one's, >1 = better); null when no baseline meets them. When the chosen plan is
   * itself a baseline, the gain is over the other one (null if that one is infeasible).
   */
  gainOverBestBaseline: number | null;
  /** The baseline `gainOverBestBaseline` compares with. */
  gainBaseline: 'edge-only' | 'cloud-only' | null;
  /** Non-dominated candidates over (total latency, bytes per sample, loss of the compression). */
  pareto: Candidate[];
  /** Every distinct candidate considered (sorted by objective). */
  candidates: Candidate[];
  warnings: string[];
}
