// plan.json: what `splitc plan` chose and what every figure was measured on, and the one
// reader that validates it (coded E_PLAN errors naming the field) before `splitc build`
// trusts a byte of it. Schema in docs/cli.md ("plan.json").

import * as fs from 'node:fs';
import { SplitcError } from '../ir/errors.js';
import type { Plan } from '../search/plan/types.js';
import { unreadablePlan } from './diagnostics.js';

/** 2: adds `tool`, `calibration` (provenance), `chosenFidelity`, candidates' `infeasible`, `gainBaseline`; optional `riskAudit`, `training`. */
export const PLAN_FILE_SCHEMA_VERSION = 2;

/** What fidelity figures were measured on; `build` reproduces it or says loudly that it differs. */
export interface CalibrationProvenance {
  /** `--calib` as given (a folder, a .npy file, `random:N`). */
  source: string;
  /** Absolute path of a file source (build finds it from another working folder). */
  path?: string;
  kind: 'images' | 'idx' | 'npy' | 'random';
  /** `--preprocess` for image folders. */
  preprocess?: string;
  /** sha256 over the data: each file's name and bytes in order (random: its count and seed). */
  sha256: string;
  /** Samples read, then split (seeded) into calibration and held-back sets. */
  samples: number;
  calibrationSamples: number;
  heldOutSamples: number;
  heldOutFraction: number;
  seed: number;
}

/** The chosen candidate's fidelity on held-back samples, per model output. */
export interface FidelitySummary {
  /** The figure `--min-agreement` bounds: the least over outputs of top-1 agreement (class scores) or mean cosine (others). */
  agreement: number;
  outputs: { name: string; metric: 'top-1' | 'cosine'; value: number; maxAbsErr: number; meanCosine: number }[];
}

export interface PlanFile extends Omit<Plan, 'schemaVersion'> {
  schemaVersion: typeof PLAN_FILE_SCHEMA_VERSION;
  tool: { name: 'splitc'; version: string };
  /** What lossy candidates' fidelity was measured on (null: nothing was measured). */
  calibration: CalibrationProvenance | null;
  /** The chosen candidate's measured fidelity (null: lossless, or not measured). */
  chosenFidelity: FidelitySummary | null;
  /**
   * How candidates' `risk` was measured for `--max-risk low|medium` (null or absent: not
   * measured; risks, if any, come from a risk table): the strongest attack's SSIM on these probes.
   */
  riskAudit?: { attacks: string[]; budget: string; probes: { source: string; sha256: string; count: number }; metric: 'ssim' } | null;
  /**
   * How learned candidates were trained to measure them (null or absent: none was), so that
   * `build` trains the chosen one the same way (and finds the plan's cached weights).
   */
  training?: PlanTraining | null;
}

/** The training of a plan's learned candidates: the data (`--train`, or the calibration set) and schedule. */
export interface PlanTraining {
  /** `--train` as given; null: the calibration set (never its held-back samples). */
  source: string | null;
  /** Absolute path of `--train` (build finds it from another working folder). */
  path?: string;
  /** sha256 of the training data (the calibration data's when `source` is null). */
  sha256: string;
  epochs: number;
  seed: number;
}

type Check = (v: unknown, at: string) => string | null;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str: Check = (v, at) => (typeof v === 'string' ? null : `${at} must be a string`);
const num: Check = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? null : `${at} must be a number`);
const numOrNull: Check = (v, at) => (v === null ? null : num(v, at));
const strings: Check = (v, at) => (Array.isArray(v) ? (v.map((x, i) => str(x, `${at}[${i}]`)).find((e) => e) ?? null) : `${at} must be an array of strings`);
const oneOf =
  (...values: string[]): Check =>
  (v, at) =>
    typeof v === 'string' && values.includes(v) ? null : `${at} must be one of ${values.map((x) => `'${x}'`).join(', ')}`;
const optional =
  (c: Check): Check =>
  (v, at) =>
    v === undefined ? null : c(v, at);
const shape: Check = (v, at) => {
  if (!isObj(v)) return `${at} must be an object of input name → dims`;
  for (const [k, dims] of Object.entries(v)) {
    if (!Array.isArray(dims) || !dims.every((d) => d === null || typeof d === 'string' || (typeof d === 'number' && Number.isInteger(d) && d >= 0))) return `${at}.${k} must be an array of dims`;
  }
  return null;
};
const object =
  (fields: Record<string, Check>, nullable = false): Check =>
  (v, at) => {
    if (v === null && nullable) return null;
    if (!isObj(v)) return `${at} must be an object`;
    for (const [k, c] of Object.entries(fields)) {
      const e = c(v[k], `${at}.${k}`);
      if (e) return e;
    }
    return null;
  };

const CANDIDATE = object({
  kind: oneOf('edge-only', 'cloud-only', 'split'),
  cutTensors: strings,
  compress: str,
  totalMs: num,
  bytesPerSample: num,
  edgeMemoryBytes: num,
  agreement: numOrNull,
  risk: optional(numOrNull),
  violates: strings,
  infeasible: optional(str),
});

const PLAN_FILE = object({
  model: object({ file: optional(str), sha256: optional(str), inputShapes: shape }),
  tool: object({ name: oneOf('splitc'), version: str }),
  objective: oneOf('latency', 'energy'),
  compressOptions: strings,
  chosen: CANDIDATE,
  exact: (v, at) => (typeof v === 'boolean' ? null : `${at} must be true or false`),
  gainOverBestBaseline: numOrNull,
  gainBaseline: (v, at) => (v === null ? null : oneOf('edge-only', 'cloud-only')(v, at)),
  baselines: object({ edgeOnly: CANDIDATE, cloudOnly: CANDIDATE }),
  candidates: (v, at) => (Array.isArray(v) ? (v.map((c, i) => CANDIDATE(c, `${at}[${i}]`)).find((e) => e) ?? null) : `${at} must be an array`),
  warnings: strings,
  calibration: object(
    {
      source: str,
      path: optional(str),
      kind: oneOf('images', 'idx', 'npy', 'random'),
      preprocess: optional(str),
      sha256: str,
      samples: num,
      calibrationSamples: num,
      heldOutSamples: num,
      heldOutFraction: num,
      seed: num,
    },
    true,
  ),
  chosenFidelity: object({ agreement: num, outputs: (v, at) => (Array.isArray(v) ? null : `${at} must be an array`) }, true),
  riskAudit: optional(object({ attacks: strings, budget: str, probes: object({ source: str, sha256: str, count: num }), metric: oneOf('ssim') }, true)),
  training: optional(object({ source: (v, at) => (v === null ? null : str(v, at)), path: optional(str), sha256: str, epochs: num, seed: num }, true)),
});

/** Validates parsed JSON as a plan file; throws E_PLAN naming the first field that is wrong. */
export function validatePlanFile(json: unknown, file: string): PlanFile {
  const hint = 'write one with splitc plan <model> ... -o plan.json';
  if (!isObj(json) || json.kind !== 'splitc-plan') {
    const other = isObj(json) && typeof json.kind === 'string' && json.kind.startsWith('splitc-') ? ` (it is a ${json.kind}: splitc build takes single-hop plans)` : '';
    throw new SplitcError('E_PLAN', `${file} is not a splitc plan${other}`, { hint });
  }
  if (json.schemaVersion !== PLAN_FILE_SCHEMA_VERSION) {
    const older = typeof json.schemaVersion === 'number' && json.schemaVersion < PLAN_FILE_SCHEMA_VERSION;
    throw new SplitcError('E_PLAN', `${file} has plan schema ${String(json.schemaVersion)}; this splitc reads schema ${PLAN_FILE_SCHEMA_VERSION}`, {
      hint: older ? 'plan again with this splitc: older plans record no calibration provenance' : 'use the splitc that wrote it, or plan again',
    });
  }
  const problem = PLAN_FILE(json, 'plan');
  if (problem) throw new SplitcError('E_PLAN', `${file} is not a valid plan: ${problem}`, { hint: 'plan files are written by splitc plan; do not edit them by hand (docs/cli.md describes the schema)' });
  return json as unknown as PlanFile;
}

/** Reads and validates a plan file. */
export function readPlanFile(file: string): PlanFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw unreadablePlan(`cannot read plan ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw unreadablePlan(`${file} is not JSON: ${(e as Error).message}`);
  }
  return validatePlanFile(json, file);
}
