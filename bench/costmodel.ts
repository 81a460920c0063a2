// Cost-model benchmark: how well does a device profile predict the latency of the edge and
// cloud segments the planner cuts a model into? For each fixture, cut after the compute node at
// 20/40/60/80 % of the graph order, split, and time each part as its own session the way a
// deployment runs it (default graph optimizations), then compare with two predictions:
//   - profiled: a profile measured on these very models (their node tables), as `splitc
//     profile` writes it (src/cli/profile.ts);
//   - leave-one-model-out: the regression fitted on the other two fixtures only, no table —
//     what a model that was never profiled gets.
//
//   npx tsx bench/costmodel.ts [--backend node|wasm] [--threads 1] [--repeats 60] [--warmup 3] [--trials 3]
//                          [--graph-opt all|disabled] [--models stem,…]
//
// --models keeps only the named fixtures (file names without .onnx; default all three, which
// docs/benchmarks.md records); with one model there is no leave-one-model-out prediction (–).
//
// --graph-opt disabled is a diagnostic: parts run unoptimized and the profile keeps its node
// times unscaled (nodeTimesFor 'unoptimized'), which takes the profiler's one-factor scaling
// from unoptimized to optimized node times out of the comparison.
//
// A trial is one profile and one measurement of every segment right after it; the machine is
// shared, and trials show how much load from other processes moves a profile (the profiler's
// phases take turns for at least a second, so a short burst hits them alike). Errors are pooled
// over trials (each one profile against one measurement). Prints markdown (tables on stdout,
// progress on stderr).
//
// The whole model is measured as its file declares it (symbolic dims), the parts as `splitc
// split` writes them (concrete dims from shape inference, no intermediate value_info); the
// profile times the latter form, so where the two run at different speeds (wasm), the
// whole-model line is off by that.
// Relative error = |pred − meas| / meas.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { runProfile } from '../src/cli/profile.js';
import { SplitcError } from '../src/ir/errors.js';
import type { Model } from '../src/ir/graph.js';
import { loadModelWithBytes, modelToBytes } from '../src/ir/serde/io.js';
import { cutAfterNode, splitModel } from '../src/passes/cut.js';
import { modelInputs, randomSamples, type Feeds } from '../src/search/calib-data.js';
import { toOrtTensor } from '../src/search/calibrate.js';
import { fitLatencyModel, median, nodeFeatures, quantile, samplesOf, type ProfiledModelData } from '../src/search/latency-fit.js';
import type { DeviceProfile, NodeFeatures } from '../src/search/profiles/types.js';
import { modelSha256Of, predictSegmentMs } from '../src/search/profiles/predict.js';
import { resolveProfileOptions } from '../src/search/profiler/options.js';
import { selectModels } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
// The profiler's checks (backend name, wasm single-threaded, positive counts) apply to the measurement too.
const opts = resolveProfileOptions({
  backend: arg('backend', 'node') as 'node' | 'wasm',
  threads: Number(arg('threads', '1')),
  repeats: Number(arg('repeats', '60')),
  warmup: Number(arg('warmup', '3')),
});
const graphOptArg = arg('graph-opt', 'all');
if (graphOptArg !== 'all' && graphOptArg !== 'disabled') throw new Error(`--graph-opt must be all or disabled, got ${graphOptArg}`);
const graphOpt: 'all' | 'disabled' = graphOptArg;
const trials = Number(arg('trials', '3'));
if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, got ${arg('trials', '3')}`);
const CUT_FRACTIONS = [0.2, 0.4, 0.6, 0.8] as const;
/** Timed runs per block: sessions take turns in blocks, so load from other processes hits all of them alike. */
const BLOCK_RUNS = 5;
const SEED = 1;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

interface Fixture {
  file: string;
  inputShapes: Record<string, number[]>;
}
const fixtures = selectModels((JSON.parse(fs.readFileSync(path.join(repoRoot, 'fixtures/models/manifest.json'), 'utf8')) as { models: Fixture[] }).models, arg('models', ''));
const modelPath = (f: Fixture): string => path.join(repoRoot, 'fixtures/models', f.file);
const shortName = (file: string): string => file.replace(/_infer\.onnx$/, '').replace(/\.onnx$/, '');

// ---------------------------------------------------------------- runtimes

/** A session of the deployed configuration and the runtime's tensors, opaque to the timing code. */
interface BenchSession {
  inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}
interface BenchRuntime {
  name: string;
  /** The runtime's code speeds up while it runs (wasm tiers up), so warm-up runs until times settle. */
  jit: boolean;
  open(bytes: Uint8Array): Promise<BenchSession>;
  tensors(feeds: Feeds): Record<string, unknown>;
}

function nodeRuntime(threads: number): BenchRuntime {
  return {
    name: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
    jit: false,
    async open(bytes) {
      // The profiler's untraced session options (src/search/profiler.ts nodeRunner); 'all' is what a deployment runs.
      const s = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: graphOpt,
        executionMode: 'sequential',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
      });
      return { inputNames: s.inputNames, run: (f) => s.run(f as Record<string, ort.Tensor>), release: () => s.release() };
    },
    tensors: (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(v)])),
  };
}

async function wasmRuntime(): Promise<BenchRuntime> {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  return {
    name: `onnxruntime-web ${ortWeb.env.versions.web ?? ortWeb.env.versions.common} (wasm)`,
    jit: true,
    async open(bytes) {
      const s = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: graphOpt, executionMode: 'sequential' });
      return { inputNames: s.inputNames, run: (f) => s.run(f as Record<string, import('onnxruntime-web').Tensor>), release: () => s.release() };
    },
    tensors: (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ortWeb.Tensor(toOrtTensor(v).type as never, v.data as never, v.dims)])),
  };
}

// ---------------------------------------------------------------- segments

type Side = 'edge' | 'cloud' | 'whole';

interface Segment {
  model: string;
  /** Cut position as a fraction of the compute nodes, and the node cut after ('' for the whole model). */
  fraction: number;
  cutAfter: string;
  side: Side;
  bytes: Uint8Array;
  features: NodeFeatures[];
  /** The cloud part reads the edge part's outputs (index into the fixture's segments). */
  feedsFrom?: number;
  /** Per trial. */
  measuredMs: number[];
  profiledMs: number[];
  looMs: number[];
}

const noResults = (): Pick<Segment, 'measuredMs' | 'profiledMs' | 'looMs'> => ({ measuredMs: [], profiledMs: [], looMs: [] });
const isCompute = (opType: string, domain: string): boolean => !(opType === 'Constant' && (domain === '' || domain === 'ai.onnx'));

/** Whole model, then edge and cloud part for each cut fraction. */
function segmentsOf(name: string, load: () => Model, shapes: Record<string, number[]>): Segment[] {
  const model = load();
  const compute = [...model.graph.nodes].filter((n) => isCompute(n.opType, n.domain));
  const known = new Set(compute.map((n) => n.name));
  const features = (part: Model, partShapes: Record<string, number[]>): NodeFeatures[] => {
    const f = nodeFeatures(part, { inputShapes: partShapes });
    // Predictions look nodes up by name in the original's table: the parts must keep the names.
    const foreign = f.filter((n) => !known.has(n.name));
    if (foreign.length) throw new Error(`${name}: split part has nodes not in the original: ${foreign.map((n) => n.name).join(', ')}`);
    return f;
  };
  // Serialized before shape inference: the whole model runs as its file declares it (symbolic
  // dims), while the parts carry the concrete dims inference gives them and no intermediate
  // value_info, as `splitc split` writes them (codegen/bundle.ts).
  const wholeBytes = modelToBytes(model);
  const out: Segment[] = [{ model: name, fraction: 1, cutAfter: '', side: 'whole', bytes: wholeBytes, features: features(model, shapes), ...noResults() }];
  for (const fraction of CUT_FRACTIONS) {
    // Each split gets a fresh copy: shape inference and splitting annotate the graph.
    const m = load();
    const nodes = [...m.graph.nodes].filter((n) => isCompute(n.opType, n.domain));
    nodeFeatures(m, { inputShapes: shapes }); // infers shapes: the cut tensors need types
    const { cut, cutAfter } = firstCut(m, nodes.map((n) => n.name), Math.max(0, Math.round(fraction * nodes.length) - 1));
    const { edge, cloud } = splitModel(m, cut);
    const cloudShapes = Object.fromEntries(cloud.graph.inputs.map((v) => [v.name, (v.shape ?? []).map((d) => (typeof d === 'number' ? d : 1))]));
    const edgeSegment: Segment = { model: name, fraction, cutAfter, side: 'edge', bytes: modelToBytes(edge, { intermediateTypes: false }), features: features(edge, shapes), ...noResults() };
    out.push(edgeSegment);
    out.push({ model: name, fraction, cutAfter, side: 'cloud', bytes: modelToBytes(cloud, { intermediateTypes: false }), features: features(cloud, cloudShapes), feedsFrom: out.length - 1, ...noResults() });
  }
  return out;
}

/**
 * Cut after the node at `from`, or the first one after it that can be cut after (a node that
 * feeds only model outputs cannot: E_CUT).
 */
function firstCut(model: Model, names: readonly string[], from: number): { cut: string[]; cutAfter: string } {
  for (let k = from; k < names.length; k++) {
    try {
      return { cut: cutAfterNode(model, names[k]!), cutAfter: names[k]! };
    } catch (e) {
      if (!(e instanceof SplitcError && e.code === 'E_CUT')) throw e;
    }
  }
  throw new Error(`no node at or after position ${from} can be cut after`);
}

// ---------------------------------------------------------------- timing

/**
 * Median wall-clock ms of each session's `run`. Warm-up first (wasm: until the whole model's
 * run time settles, since V8 tiers kernels up in the background; all sessions share the
 * kernels), then rounds in which every session runs one untimed run and BLOCK_RUNS timed
 * runs back to back (caches warm, as in a deployment that runs one part repeatedly).
 */
async function timeSessions(runtime: BenchRuntime, sessions: BenchSession[], feeds: Record<string, unknown>[]): Promise<number[]> {
  if (runtime.jit) await settle(sessions[0]!, feeds[0]!);
  for (let i = 0; i < sessions.length; i++) for (let w = 0; w < opts.warmup; w++) await sessions[i]!.run(feeds[i]!);
  const times: number[][] = sessions.map(() => []);
  const rounds = Math.ceil(opts.repeats / BLOCK_RUNS);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sessions.length; i++) {
      await sessions[i]!.run(feeds[i]!);
      for (let b = 0; b < BLOCK_RUNS; b++) {
        const t0 = performance.now();
        await sessions[i]!.run(feeds[i]!);
        times[i]!.push(performance.now() - t0);
      }
    }
  }
  return times.map((t) => median(t));
}

/** Blocks of 10 runs until two consecutive block medians agree within 3 % after at least 1 s (at most 15 s). */
async function settle(session: BenchSession, feeds: Record<string, unknown>): Promise<void> {
  const start = performance.now();
  let previous = Infinity;
  let stable = 0;
  while (performance.now() - start < 15_000) {
    const t: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      t.push(performance.now() - t0);
    }
    const m = median(t);
    stable = Math.abs(m - previous) <= 0.03 * previous ? stable + 1 : 0;
    previous = m;
    if (stable >= 2 && performance.now() - start >= 1000) return;
  }
}

async function measureFixture(runtime: BenchRuntime, segments: Segment[], inputFeeds: Feeds): Promise<void> {
  const sessions: BenchSession[] = [];
  try {
    for (const s of segments) sessions.push(await runtime.open(s.bytes));
    const feeds: Record<string, unknown>[] = [];
    for (let i = 0; i < segments.length; i++) {
      const from = segments[i]!.feedsFrom;
      const available = from === undefined ? runtime.tensors(inputFeeds) : await sessions[from]!.run(feeds[from]!);
      feeds.push(Object.fromEntries(sessions[i]!.inputNames.map((n) => [n, available[n]])));
      const missing = sessions[i]!.inputNames.filter((n) => available[n] === undefined);
      if (missing.length) throw new Error(`${segments[i]!.model} ${segments[i]!.side}: no feed for ${missing.join(', ')}`);
    }
    const ms = await timeSessions(runtime, sessions, feeds);
    segments.forEach((s, i) => s.measuredMs.push(ms[i]!));
  } finally {
    for (const s of sessions) await s.release();
  }
}

// ---------------------------------------------------------------- profiles

interface TrialProfiles {
  profiled: DeviceProfile;
  /** Per fixture: the profile fitted without it (none when only one fixture is profiled). */
  leaveOneOut: (DeviceProfile | undefined)[];
}

interface LoadedFixture {
  fixture: Fixture;
  model: Model;
  sha256: string;
  /** Compute-node features of the whole model at the fixture's shapes. */
  features: NodeFeatures[];
}

/** Exactly what `splitc profile` writes for the fixtures, and the leave-one-model-out profiles fitted the way it fits. */
async function profileTrial(loaded: readonly LoadedFixture[]): Promise<TrialProfiles> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-bench-costmodel-'));
  let profiled: DeviceProfile;
  try {
    ({ profile: profiled } = await runProfile({
      models: loaded.map((l) => modelPath(l.fixture)),
      modelInputShapes: loaded.map((l) => l.fixture.inputShapes),
      backend: opts.backend,
      threads: opts.threads,
      warmup: opts.warmup,
      repeats: opts.repeats,
      nodeTimesFor: graphOpt === 'all' ? 'optimized' : 'unoptimized',
      output: path.join(tmp, 'device.json'),
      log: (line) => log(`  ${line}`),
      write: (text) => log(text.replace(/^/gm, '  ')),
    }));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // No measured table for the held-out model: every node of it is a regression guess.
  const data: ProfiledModelData[] = loaded.map((l) => {
    const table = profiled.latency.measured!.find((m) => m.modelSha256 === l.sha256)!;
    return { name: l.fixture.file, features: l.features, nodesMs: table.nodesMs, totalMs: table.totalMs! };
  });
  const leaveOneOut = data.map((held): DeviceProfile | undefined => {
    const rest = data.filter((m) => m !== held);
    if (rest.length === 0) return undefined;
    const runs = rest.map((m) => ({ totalMs: m.totalMs!, nodeSumMs: m.features.reduce((a, f) => a + (m.nodesMs[f.name] ?? 0), 0) }));
    return { kind: 'device', schemaVersion: 1, name: `without-${held.name}`, latency: fitLatencyModel(samplesOf(rest), { runs }) };
  });
  return { profiled, leaveOneOut };
}

// ---------------------------------------------------------------- report

const relErr = (pred: number, meas: number): number => Math.abs(pred - meas) / meas;
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '–');
const fmtMs = (x: number): string => (!Number.isFinite(x) ? '–' : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const mdTable = (head: string[], rows: string[][]): string =>
  [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** Relative errors of one prediction kind, one per segment and trial (trial `t` only, if given). */
function errorsOf(segs: readonly Segment[], kind: 'profiledMs' | 'looMs', t?: number): number[] {
  return segs.flatMap((s) => s[kind].flatMap((pred, i) => ((t === undefined || t === i) && Number.isFinite(pred) ? [relErr(pred, s.measuredMs[i]!)] : [])));
}

function summaryRow(label: string, segs: readonly Segment[], t?: number): string[] {
  const prof = errorsOf(segs, 'profiledMs', t);
  const loo = errorsOf(segs, 'looMs', t);
  return [label, String(prof.length), pct(median(prof)), pct(quantile(prof, 0.9)), pct(median(loo)), pct(quantile(loo, 0.9))];
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  const runtime = opts.backend === 'node' ? nodeRuntime(opts.threads) : await wasmRuntime();
  const loaded: LoadedFixture[] = fixtures.map((fixture) => {
    const { model, bytes } = loadModelWithBytes(modelPath(fixture));
    return { fixture, model, sha256: modelSha256Of(bytes), features: nodeFeatures(model, { inputShapes: fixture.inputShapes }) };
  });
  const segmentsByFixture = loaded.map(({ fixture }) => segmentsOf(shortName(fixture.file), () => loadModelWithBytes(modelPath(fixture)).model, fixture.inputShapes));
  const inputFeeds = loaded.map(({ fixture, model }) => randomSamples(modelInputs(model, fixture.inputShapes), 1, { seed: SEED, lo: 0, hi: 1 })[0]!.load());
  const loads: { start: number; end: number }[] = [];

  for (let t = 0; t < trials; t++) {
    const start = os.loadavg()[0]!;
    log(`trial ${t + 1}/${trials}: profiling ${loaded.length} fixtures (${opts.backend}, ${opts.threads} thread${opts.threads > 1 ? 's' : ''}, ${opts.warmup}+${opts.repeats} runs)`);
    const { profiled, leaveOneOut } = await profileTrial(loaded);
    for (const [i, segments] of segmentsByFixture.entries()) {
      log(`trial ${t + 1}/${trials}: measuring ${segments[0]!.model} (whole model, ${CUT_FRACTIONS.length} cuts × edge/cloud)`);
      await measureFixture(runtime, segments, inputFeeds[i]!);
      for (const s of segments) {
        s.profiledMs.push(predictSegmentMs(profiled, s.features, loaded[i]!.sha256));
        const loo = leaveOneOut[i];
        s.looMs.push(loo ? predictSegmentMs(loo, s.features) : NaN);
      }
    }
    loads.push({ start, end: os.loadavg()[0]! });
  }

  const all = segmentsByFixture.flat();
  const parts = all.filter((s) => s.side !== 'whole');
  const wholes = all.filter((s) => s.side === 'whole');
  const models = segmentsByFixture.map((segs) => segs[0]!.model);
  const cpus = os.cpus();
  const out: string[] = [];
  out.push(
    `Machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ${runtime.name}, ${opts.threads} thread${opts.threads > 1 ? 's' : ''}; ` +
      `1-min load average ${loads.map((l) => `${l.start.toFixed(2)}→${l.end.toFixed(2)}`).join(', ')} (per trial). ` +
      `${trials} trial${trials > 1 ? 's' : ''} of profile (${opts.warmup} warm-up + at least ${opts.repeats} runs per phase, the phases taking turns for at least 1 s) then measurement ` +
      `(every part its own session, ${graphOpt === 'all' ? 'default optimizations' : 'graph optimizations disabled'}, ${opts.warmup} warm-up + ${Math.ceil(opts.repeats / BLOCK_RUNS) * BLOCK_RUNS} timed runs, median); ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s in all.`,
  );
  out.push('');
  out.push('Per segment (medians over trials; the error columns are the median of the per-trial errors):');
  out.push('');
  const mid = (xs: readonly number[]): number => median(xs);
  out.push(
    mdTable(
      ['model', 'cut after', 'side', 'nodes', 'measured ms', 'profiled ms', 'error', 'LOO ms', 'error'],
      all.map((s) => [
        s.model,
        s.side === 'whole' ? '–' : `${Math.round(100 * s.fraction)} % (${s.cutAfter})`,
        s.side,
        String(s.features.length),
        fmtMs(mid(s.measuredMs)),
        fmtMs(mid(s.profiledMs)),
        pct(mid(errorsOf([s], 'profiledMs'))),
        fmtMs(mid(s.looMs)),
        pct(mid(errorsOf([s], 'looMs'))),
      ]),
    ),
  );
  out.push('');
  out.push(`Relative error over the edge and cloud parts (${CUT_FRACTIONS.length} cuts × 2 sides per model × ${trials} trial${trials > 1 ? 's' : ''}, each error one profile against one measurement); whole models on their own line:`);
  out.push('');
  out.push(
    mdTable(
      ['model', 'errors', 'profiled median', 'profiled p90', 'LOO median', 'LOO p90'],
      [...models.map((m) => summaryRow(m, parts.filter((s) => s.model === m))), summaryRow('**all parts**', parts), summaryRow('whole models', wholes)],
    ),
  );
  out.push('');
  out.push('What splitting itself costs (medians over trials): the two parts run as their own sessions against the whole model. The profiled prediction of the sum exceeds its whole-model prediction by one `runOverheadMs` only.');
  out.push('');
  out.push(
    mdTable(
      ['model', 'cut after', 'edge + cloud ms', 'whole ms', 'excess'],
      segmentsByFixture.flatMap((segs) => {
        const whole = mid(segs[0]!.measuredMs);
        return CUT_FRACTIONS.map((fraction) => {
          const [edge, cloud] = (['edge', 'cloud'] as const).map((side) => segs.find((s) => s.fraction === fraction && s.side === side)!);
          const sum = mid(edge!.measuredMs.map((m, t) => m + cloud!.measuredMs[t]!));
          return [segs[0]!.model, `${Math.round(100 * fraction)} %`, fmtMs(sum), fmtMs(whole), pct((sum - whole) / whole)];
        });
      }),
    ),
  );
  if (trials > 1) {
    out.push('');
    out.push('Per trial (all parts), with each profile\'s whole-model time against the measured one:');
    out.push('');
    out.push(
      mdTable(
        ['trial', 'load', ...models.map((m) => `${m} profile / measured ms`), 'profiled median', 'profiled p90', 'LOO median', 'LOO p90'],
        Array.from({ length: trials }, (_, t) => {
          const [, , pm, p9, lm, l9] = summaryRow('', parts, t);
          return [
            String(t + 1),
            loads[t]!.start.toFixed(2),
            ...wholes.map((w) => `${fmtMs(w.profiledMs[t]!)} / ${fmtMs(w.measuredMs[t]!)}`),
            pm!,
            p9!,
            lm!,
            l9!,
          ];
        }),
      ),
    );
  }
  const overall = errorsOf(parts, 'profiledMs');
  const met = median(overall) <= 0.1 && quantile(overall, 0.9) <= 0.25;
  out.push('');
  out.push(`Goal for the profiled model (median ≤ 10 %, p90 ≤ 25 %): ${met ? 'met' : 'missed'} (median ${pct(median(overall))}, p90 ${pct(quantile(overall, 0.9))}).`);
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
