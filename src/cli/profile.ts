// `splitc profile`: measure per-node latencies of one or more models on this machine, fit the
// per-op-class latency regression over all of them, and write a device profile (JSON, written
// atomically) the partition search can use. Prints a short summary for people or JSON.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplitcError } from '../ir/errors.js';
import { loadModelWithBytes } from '../ir/serde/io.js';
import { fitProfiledModels, leaveOneModelOut, nodeFeatures, type FitReport, type ProfiledModelData } from '../search/latency-fit.js';
import type { DeviceProfile, MeasuredModel, OpClass, OpClassCoefficients } from '../search/profiles/types.js';
import { OP_CLASSES } from '../search/profiles/types.js';
import { resolveProfileOptions } from '../search/profiler/options.js';
import { profileModel } from '../search/profiler/profile.js';
import { type ModelProfile, type ProfileProgress, type ProfilerBackend } from '../search/profiler/types.js';
import { opClassOf } from '../search/profiles/op-classes.js';
import { parseDeviceProfile } from '../search/profiles/parse.js';
import { table } from './format.js';
import { createProgress, type ProgressReporter, type ProgressUpdate } from './progress.js';
import { writeFileAtomic } from '../ir/temp-files.js';

export const PROFILE_SUMMARY_SCHEMA_VERSION = 1;

export interface ProfileCommandOptions {
  /** ONNX files to profile; the regression is fitted over all of them. */
  models: string[];
  backend?: ProfilerBackend;
  threads?: number;
  warmup?: number;
  repeats?: number;
  /** Input shapes by input name, for every model that has such an input. */
  inputShapes?: Record<string, number[]>;
  /** Per model (same order as `models`): shapes that override `inputShapes` for that model. */
  modelInputShapes?: (Record<string, number[]> | undefined)[];
  /** Which graph the node times describe (see ProfileOptions.nodeTimesFor); default 'optimized'. */
  nodeTimesFor?: 'optimized' | 'unoptimized';
  /** Where the device profile is written. */
  output: string;
  /** Print the summary as JSON instead of text (and no progress lines). */
  json?: boolean;
  /** Profile name (default `this-machine-<backend>-<threads>t`). */
  name?: string;
  /** When the measurement happened, for the description (default now). */
  date?: Date;
  /** Progress lines (default: above the bar of `progress`, only on a terminal); never called with `json`. */
  log?: (line: string) => void;
  /** The bar of the measuring runs (default: on stderr when it is a terminal and not `json`); stopped when measuring ends. */
  progress?: ProgressReporter;
  /** Where the summary goes (default stdout). */
  write?: (text: string) => void;
}

export interface ProfileSummary {
  schemaVersion: number;
  output: string;
  name: string;
  backend: ProfilerBackend;
  threads: number;
  warmup: number;
  repeats: number;
  models: {
    model: string;
    modelSha256: string;
    runtime: string;
    inputShapes: Record<string, number[]>;
    nodes: number;
    notReported: string[];
    nodeTimesFor: 'optimized' | 'unoptimized';
    totalMs: number;
    unoptimizedTotalMs: number;
    optimizedTotalMs: number;
    runOverheadMs: number;
    profilerOverheadMsPerNode: number;
    /** Nodes reported as 0 ms because their traced time was below the profiler's per-node overhead. */
    clampedNodes: number;
    estimated: boolean;
  }[];
  /** Measured time per op class over all models, largest first. */
  opClasses: { opClass: OpClass; nodes: number; ms: number; share: number }[];
  fit: {
    /** Segment errors of the regression on the profiled models. */
    inSample: FitReport;
    /** Segment errors on each model when fitted on the others (two models or more). */
    leaveOneModelOut?: FitReport;
  };
}

export async function runProfile(opts: ProfileCommandOptions): Promise<{ profile: DeviceProfile; summary: ProfileSummary }> {
  // Everything checkable is checked before minutes of measuring.
  if (!Array.isArray(opts.models) || opts.models.length === 0 || !opts.models.every((m) => typeof m === 'string' && m !== '')) {
    throw new SplitcError('E_BAD_ARGUMENT', 'no model to profile', { hint: 'splitc profile model.onnx [more.onnx …] -o device.json' });
  }
  if (opts.modelInputShapes && opts.modelInputShapes.length !== opts.models.length) {
    throw new SplitcError('E_BAD_ARGUMENT', `modelInputShapes has ${opts.modelInputShapes.length} entries for ${opts.models.length} models`);
  }
  const o = resolveProfileOptions({
    ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
    ...(opts.repeats !== undefined ? { repeats: opts.repeats } : {}),
    ...(opts.inputShapes !== undefined ? { inputShapes: opts.inputShapes } : {}),
    ...(opts.nodeTimesFor !== undefined ? { nodeTimesFor: opts.nodeTimesFor } : {}),
  });
  checkOutput(opts.output);
  const loaded = opts.models.map((file) => ({ file, ...loadModelWithBytes(file) }));
  const shapesFor = loaded.map(({ model }, i) => {
    const own = new Set(model.graph.inputs.map((v) => v.name));
    const global = Object.fromEntries(Object.entries(opts.inputShapes ?? {}).filter(([k]) => own.has(k)));
    return { ...global, ...(opts.modelInputShapes?.[i] ?? {}) };
  });
  for (const name of Object.keys(opts.inputShapes ?? {})) {
    if (!loaded.some(({ model }) => model.graph.inputs.some((v) => v.name === name))) {
      throw new SplitcError('E_BAD_ARGUMENT', `no model has an input named '${name}'`, { hint: 'input names are printed by splitc inspect' });
    }
  }

  const json = opts.json ?? false;
  const progress = opts.progress ?? createProgress({ json });
  const log = json ? undefined : (opts.log ?? (progress.enabled ? progress.log : undefined));
  const profiles: ModelProfile[] = [];
  const data: ProfiledModelData[] = [];
  try {
    for (const [i, { file, model, bytes }] of loaded.entries()) {
      log?.(`profiling ${path.basename(file)} (${i + 1}/${loaded.length}) with ${o.backend}, ${o.threads} thread${o.threads > 1 ? 's' : ''}`);
      const bar = progress.enabled ? overPhases(progress.task(`profiling ${path.basename(file)}`)) : undefined;
      const lines = log ? progressLogger(log) : undefined;
      const onProgress = (q: ProfileProgress): void => {
        bar?.(q);
        lines?.(q);
      };
      const p = await profileModel({ model, bytes, path: file }, { ...o, inputShapes: shapesFor[i]!, ...(bar || lines ? { onProgress } : {}) });
      profiles.push(p);
      data.push({ name: p.model ?? path.basename(file), features: nodeFeatures(model, { inputShapes: p.inputShapes }), nodesMs: p.nodesMs, totalMs: p.totalMs });
    }
  } finally {
    progress.stop();
  }

  const { latency, report } = fitProfiledModels(data);
  const lomo = data.length >= 2 ? leaveOneModelOut(data) : undefined;
  const date = opts.date ?? new Date();
  const name = opts.name ?? `this-machine-${o.backend}-${o.threads}t`;
  const measured: MeasuredModel[] = profiles.map((p) => ({
    modelSha256: p.modelSha256,
    ...(p.model ? { model: p.model } : {}),
    inputShapes: p.inputShapes,
    nodesMs: Object.fromEntries(Object.entries(p.nodesMs).map(([k, v]) => [k, roundMs(v)])),
    totalMs: roundMs(p.totalMs),
  }));
  const profile: DeviceProfile = {
    kind: 'device',
    schemaVersion: 1,
    name,
    description: describeProfile(profiles, data, report, date),
    latency: {
      opClasses: Object.fromEntries(OP_CLASSES.filter((c) => latency.opClasses[c]).map((c) => [c, roundCoefficients(latency.opClasses[c]!)])),
      default: roundCoefficients(latency.default),
      slowdown: 1,
      runOverheadMs: roundMs(latency.runOverheadMs),
      measured,
    },
  };
  // What we write must load: the validator is the reader's, not ours.
  parseDeviceProfile(JSON.parse(JSON.stringify(profile)), opts.output);
  writeFileAtomic(opts.output, `${JSON.stringify(profile, null, 2)}\n`);

  const summary: ProfileSummary = {
    schemaVersion: PROFILE_SUMMARY_SCHEMA_VERSION,
    output: opts.output,
    name,
    backend: o.backend,
    threads: o.threads,
    warmup: o.warmup,
    repeats: o.repeats,
    models: profiles.map((p, i) => ({
      model: data[i]!.name,
      modelSha256: p.modelSha256,
      runtime: p.runtime,
      inputShapes: p.inputShapes,
      nodes: Object.keys(p.nodesMs).length,
      notReported: p.notReported,
      nodeTimesFor: p.nodeTimesFor,
      totalMs: roundMs(p.totalMs),
      unoptimizedTotalMs: roundMs(p.unoptimizedTotalMs),
      optimizedTotalMs: roundMs(p.optimizedTotalMs),
      runOverheadMs: roundMs(p.runOverheadMs),
      profilerOverheadMsPerNode: roundMs(p.profilerOverheadMsPerNode),
      clampedNodes: p.clampedNodes,
      estimated: p.estimated,
    })),
    opClasses: opClassTimes(data),
    fit: { inSample: report, ...(lomo ? { leaveOneModelOut: lomo } : {}) },
  };
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  write(json ? `${JSON.stringify(summary)}\n` : `${formatProfileSummary(summary)}\n`);
  return { profile, summary };
}

/** One bar over the measuring phases, which take turns: runs done of the runs wanted so far. */
function overPhases(onProgress: (p: ProgressUpdate) => void): (p: ProfileProgress) => void {
  const phases = new Map<ProfileProgress['phase'], ProfileProgress>();
  return (p) => {
    phases.set(p.phase, p);
    let done = 0;
    let total = 0;
    for (const q of phases.values()) {
      done += q.done;
      total += q.total;
    }
    onProgress({ done, total });
  };
}

/** One line when a phase finishes: per-run lines would flood the terminal. */
function progressLogger(log: (line: string) => void): (p: ProfileProgress) => void {
  const what: Record<ProfileProgress['phase'], string> = {
    profile: 'traced runs (optimizations off)',
    total: 'timed runs (optimizations off)',
    optimized: 'timed runs (optimizations on)',
    overhead: 'runs of an empty model (fixed cost per run)',
  };
  return (p) => {
    if (p.done === p.total) log(`  ${p.total} ${what[p.phase]}`);
  };
}

function checkOutput(file: unknown): void {
  if (typeof file !== 'string' || file === '') throw new SplitcError('E_BAD_ARGUMENT', 'no output file given', { hint: 'pass -o device.json' });
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new SplitcError('E_IO', `cannot write ${file}: folder ${dir} does not exist`, { hint: 'create the folder first' });
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new SplitcError('E_IO', `cannot write ${file}: it is a folder`, { hint: 'pass the path of the .json file to create' });
}


/** 0.1 µs: below the timer's resolution, and keeps the file readable. */
function roundMs(ms: number): number {
  return Math.round(ms * 1e4) / 1e4;
}

function roundSignificant(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(6));
}

function roundCoefficients(c: OpClassCoefficients): OpClassCoefficients {
  return { msPerGMac: roundSignificant(c.msPerGMac), msPerMB: roundSignificant(c.msPerMB), msFixed: roundSignificant(c.msFixed) };
}

function opClassTimes(data: readonly ProfiledModelData[]): ProfileSummary['opClasses'] {
  const ms = new Map<OpClass, { nodes: number; ms: number }>();
  let total = 0;
  for (const m of data) {
    for (const f of m.features) {
      const t = m.nodesMs[f.name];
      if (t === undefined) continue;
      const c = opClassOf(f.opType);
      const e = ms.get(c) ?? { nodes: 0, ms: 0 };
      e.nodes++;
      e.ms += t;
      ms.set(c, e);
      total += t;
    }
  }
  return OP_CLASSES.filter((c) => ms.has(c))
    .map((c) => ({ opClass: c, nodes: ms.get(c)!.nodes, ms: roundMs(ms.get(c)!.ms), share: total > 0 ? ms.get(c)!.ms / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '–');

function describeProfile(profiles: readonly ModelProfile[], data: readonly ProfiledModelData[], report: FitReport, date: Date): string {
  const p0 = profiles[0]!;
  const methods: Record<ModelProfile['nodeTimesMethod'], string> = {
    'traced-optimized': "onnxruntime's profiler on the optimized session, each kernel charged to the ONNX nodes it runs (fused chains shared in proportion to their unoptimized times)",
    scaled: "onnxruntime's profiler with graph optimizations off (so nodes keep their ONNX names), less its per-node overhead, scaled to the optimized whole run",
    'traced-unoptimized': "onnxruntime's profiler with graph optimizations off, less its per-node overhead",
  };
  const how = [...new Set(profiles.map((p) => `${methods[p.nodeTimesMethod]}${p.optimizedTrace && !p.optimizedTrace.used && p.optimizedTrace.reason ? ` (optimized trace not used: ${p.optimizedTrace.reason})` : ''}`))].join('; ');
  const models = profiles
    .map((p, i) => `${data[i]!.name} ${JSON.stringify(p.inputShapes)}: ${p.optimizedTotalMs.toFixed(2)} ms optimized, ${p.unoptimizedTotalMs.toFixed(2)} ms unoptimized${p.estimated ? ' (node times estimated from onnxruntime-node)' : ''}`)
    .join('; ');
  const nodes = data.reduce((a, m) => a + Object.keys(m.nodesMs).length, 0);
  return (
    `Measured by splitc profile on ${date.toISOString()} with ${p0.runtime}, ${p0.threads} thread${p0.threads > 1 ? 's' : ''}, ` +
    `${p0.warmup} warm-up + ${p0.repeats} timed runs per model. Node times: medians from ${how}. Models: ${models}. ` +
    `Regression fitted over ${nodes} nodes of ${data.length} model${data.length > 1 ? 's' : ''}; ` +
    `segment latency error median ${pct(report.overall.medianRelErr)}, p90 ${pct(report.overall.p90RelErr)}.`
  );
}

export function formatProfileSummary(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(`device profile '${s.name}' written to ${s.output} (${s.backend}, ${s.threads} thread${s.threads > 1 ? 's' : ''}, ${s.warmup} warm-up + ${s.repeats} runs)`);
  lines.push('');
  lines.push(
    table(
      ['model', 'nodes', 'optimized ms', 'unoptimized ms', 'run overhead ms', 'note'],
      s.models.map((m) => [
        m.model,
        String(m.nodes),
        m.optimizedTotalMs.toFixed(3),
        m.unoptimizedTotalMs.toFixed(3),
        m.runOverheadMs.toFixed(3),
        [
          m.notReported.length ? `${m.notReported.length} not reported` : '',
          m.clampedNodes ? `${m.clampedNodes} below the profiler's overhead, counted 0` : '',
          m.estimated ? 'node times estimated' : '',
        ]
          .filter(Boolean)
          .join(', '),
      ]),
      [false, true, true, true, true, false],
    ),
  );
  lines.push('');
  lines.push(
    table(
      ['op class', 'nodes', 'ms', 'share'],
      s.opClasses.slice(0, 5).map((c) => [c.opClass, String(c.nodes), c.ms.toFixed(3), pct(c.share)]),
      [false, true, true, true],
    ),
  );
  lines.push('');
  const fitRows: string[][] = s.fit.inSample.perModel.map((m, i) => {
    const held = s.fit.leaveOneModelOut?.perModel[i];
    return [m.model, pct(m.medianRelErr), pct(m.p90RelErr), held ? pct(held.medianRelErr) : '–', held ? pct(held.p90RelErr) : '–'];
  });
  const lo = s.fit.leaveOneModelOut?.overall;
  fitRows.push(['all', pct(s.fit.inSample.overall.medianRelErr), pct(s.fit.inSample.overall.p90RelErr), lo ? pct(lo.medianRelErr) : '–', lo ? pct(lo.p90RelErr) : '–']);
  lines.push('regression error on segment latencies (prefixes and suffixes at 10 %…90 % of the nodes):');
  lines.push(table(['model', 'median', 'p90', 'held-out median', 'held-out p90'], fitRows, [false, true, true, true, true]));
  lines.push(`(held out: fitted without that model. Profiled models use their measured node times, not the regression.)`);
  return lines.join('\n');
}
