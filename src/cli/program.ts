// The splitc command line as a function: `main(argv, io)` runs one command and resolves to its
// exit code, so tests can run it in-process (src/cli/main.ts is the process's entry point).
// SplitcErrors print one line (plus a hint) and give 2; anything else is an internal bug: its
// stack is printed and the code is 1.

import yargs from 'yargs';
import { SplitcError } from '../ir/errors.js';
import type { Dim } from '../ir/graph.js';
import { loadModel } from '../ir/serde/io.js';
import { printModel } from '../ir/printer.js';
import { parseShapeSpec } from '../passes/shape/index.js';
import { convertModel } from './convert.js';
import { bytes } from './format.js';
import { formatInspect, inspectModel } from './inspect.js';
import { printSplit, runSplit } from './split.js';
import { defaultLearnedCacheDir } from '../pipeline/learn-cache.js';
import { renderPlanHtml } from './plan-html.js';
import { formatGrad, runGrad } from './grad.js';
import { createProgress, type ProgressReporter, type ProgressStream } from './progress.js';
import { formatAudit } from './audit.js';
import { audit } from '../pipeline/audit.js';
import { riskAtLeast } from '../audit/index.js';
import { ATTACK_NAMES, BUDGETS, type AttackName, type Budget } from '../audit/types.js';
import { fedCommand } from './fed.js';

export const VERSION = '0.1.0';

/** Where a command's output goes: the process's streams, or buffers in a test. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Where progress bars draw (only when it is a terminal); without it, none are drawn. */
  progress?: ProgressStream;
}

export const PROCESS_IO: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  progress: process.stderr,
};

/** A stream that is not a terminal: createProgress draws nothing on it. */
const NO_TERMINAL: ProgressStream = { isTTY: false, write: () => true };

const LEARNED_CACHE_OPTION = { type: 'boolean', default: true, describe: 'reuse and keep trained learned-stage weights in ~/.cache/splitc/learned (--no-cache: train again, keep nothing)' } as const;
const SHAPE_OPTION = { type: 'string', array: true, describe: 'fix input dims, e.g. --shape x=1x3x48x192 (repeatable)' } as const;

function shapesFrom(specs: unknown): Record<string, Dim[]> {
  const list = specs === undefined ? [] : Array.isArray(specs) ? specs : [specs];
  const out: Record<string, Dim[]> = {};
  for (const s of list) {
    for (const part of String(s).split(',')) {
      if (!part.trim()) continue;
      const [name, dims] = parseShapeSpec(part.trim());
      out[name] = dims;
    }
  }
  return out;
}

/** --max-risk: a level, or a number for --risk-table. */
function parseMaxRisk(text: string): number | 'low' | 'medium' {
  if (text === 'low' || text === 'medium') return text;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new SplitcError('E_BAD_ARGUMENT', `--max-risk must be 'low', 'medium' or a number, got '${text}'`, { hint: "e.g. --max-risk low (measured), or --max-risk 0.3 with --risk-table" });
  return n;
}

/** Prints a failure and gives its exit code. */
function fail(e: unknown, json: boolean, io: CliIo): number {
  if (e instanceof SplitcError) {
    if (json) io.stdout(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n');
    else io.stderr(e.format() + '\n');
    return 2;
  }
  io.stderr(`internal error (a bug in splitc, please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}

/** Runs one splitc command (argv without `node splitc`) and resolves to its exit code; it never exits the process. */
export async function main(argv: string[], io: CliIo = PROCESS_IO): Promise<number> {
  const json = argv.includes('--json');
  const createProgressFor = (json: boolean): ProgressReporter => createProgress({ json, stream: io.progress ?? NO_TERMINAL });
  let exitCode = 0;
  try {
    await yargs(argv)
      .scriptName('splitc')
      .version(VERSION)
      .strict()
      .exitProcess(false)
      .demandCommand(1, 'name a command, e.g. `splitc inspect model.onnx`')
      .command(
        'inspect <model>',
        'summarize a model: inputs/outputs, shapes, op histogram, parameters, MACs, peak activation memory',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (schema in docs/cli.md)' })
            .option('shape', SHAPE_OPTION)
            .option('nodes', { type: 'boolean', default: true, describe: 'print the per-node table (--no-nodes to hide)' })
            .option('constants', { type: 'boolean', default: false, describe: 'list Constant nodes in the per-node table too' }),
        (args) => {
          const report = inspectModel(args.model, shapesFrom(args.shape));
          if (args.json) {
            io.stdout(JSON.stringify(report) + '\n');
            return;
          }
          for (const w of report.warnings) io.stderr(`warning ${w.code}: ${w.message}${w.location ? ` (at ${w.location})` : ''}\n`);
          io.stdout(formatInspect(report, { nodes: args.nodes, constants: args.constants }) + '\n');
        },
      )
      .command(
        'convert <input> <output>',
        'round-trip a model through the IR (optionally hoisting constants / writing external data)',
        (y) =>
          y
            .positional('input', { type: 'string', demandOption: true })
            .positional('output', { type: 'string', demandOption: true })
            .option('external-data-threshold', { type: 'number', describe: 'move initializers of at least BYTES to <output>.data' })
            .option('hoist-constants', { type: 'boolean', default: false, describe: 'turn Constant-node weights into initializers' })
            .option('json', { type: 'boolean', default: false }),
        (args) => {
          const threshold = args.externalDataThreshold;
          if (threshold !== undefined && (!Number.isFinite(threshold) || threshold < 0)) {
            throw new SplitcError('E_BAD_ARGUMENT', `--external-data-threshold must be a non-negative number of bytes, got ${threshold}`);
          }
          const r = convertModel(args.input, args.output, {
            ...(threshold !== undefined ? { externalDataThreshold: threshold } : {}),
            hoistConstants: args.hoistConstants,
          });
          if (args.json) io.stdout(JSON.stringify({ output: args.output, ...r }) + '\n');
          else {
            io.stdout(
              `wrote ${args.output} (${bytes(r.modelBytes)})${r.externalDataFile ? ` + ${r.externalDataFile} (${bytes(r.externalBytes)})` : ''}${r.hoisted ? ', constants hoisted' : ''}\n`,
            );
          }
        },
      )
      .command(
        'split <model>',
        'cut a model into an edge part and a cloud part and write the deployable bundle (edge/, cloud/, triton/, manifest.json)',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('cut', { type: 'string', array: true, describe: 'cut at these tensors: --cut a,b (repeatable)' })
            .option('cut-after', { type: 'string', describe: 'cut right after this node (its name, or the name of one of its outputs)' })
            .option('shape', SHAPE_OPTION)
            .option('compress', { type: 'string', describe: "compress the wire tensors: 'none' (default), 'int8', 'pca=16+int4', …" })
            .option('calib', { type: 'string', describe: 'calibration data for --compress: a folder of images or .npy files, a .npy file, or random[:N]' })
            .option('preprocess', { type: 'string', describe: 'how calibration images become inputs: paddleocr-cls, paddleocr-det, imagenet, unit, or key=value,… (see docs/cli.md)' })
            .option('train', { type: 'string', describe: 'inputs to train a learned stage on (--compress learned=8+int4): the formats --calib takes; default: the calibration set (never its held-back samples)' })
            .option('epochs', { type: 'number', default: 10, describe: 'training epochs of a learned stage' })
            .option('seed', { type: 'number', default: 1, describe: 'seed of the training order (same seed, same bundle)' })
            .option('cache', LEARNED_CACHE_OPTION)
            .option('tune-cloud', { type: 'number', default: 0, describe: "also fine-tune the weights of the first N cloud-side nodes with a learned stage (they go into the cloud model)" })
            .option('model-name', { type: 'string', describe: "name the cloud model is served under (default: the model file's name without .onnx; letters, digits, _ . -)" })
            .option('audit', { type: 'boolean', default: true, describe: "run a fast white-box inversion audit of the cut on real inputs and put report/ into the bundle (--no-audit: don't)" })
            .option('probe', { type: 'string', describe: 'real inputs for the audit (default: the calibration inputs when they are real): a folder of images or .npy files, a .npy file' })
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'bundle folder to create (replaced atomically if it is a splitc bundle)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON (schema in docs/cli.md)' }),
        async (args) => {
          const cut = (args.cut ?? []).flatMap((c) => String(c).split(',')).map((c) => c.trim()).filter(Boolean);
          const progress = createProgressFor(args.json);
          const run = await runSplit({
            model: args.model,
            ...(args.cut !== undefined ? { cut } : {}),
            ...(args.cutAfter !== undefined ? { cutAfter: args.cutAfter } : {}),
            shapes: shapesFrom(args.shape),
            ...(args.compress !== undefined ? { compress: args.compress } : {}),
            ...(args.calib !== undefined ? { calib: args.calib } : {}),
            ...(args.preprocess !== undefined ? { preprocess: args.preprocess } : {}),
            training: { epochs: args.epochs, seed: args.seed, ...(args.tuneCloud ? { tuneCloud: args.tuneCloud } : {}), ...(args.train !== undefined ? { train: args.train } : {}), ...(args.cache ? { cacheDir: defaultLearnedCacheDir() } : {}) },
            ...(args.modelName !== undefined ? { modelName: args.modelName } : {}),
            audit: args.audit,
            ...(args.probe !== undefined ? { probe: args.probe } : {}),
            outDir: args.out,
            toolVersion: VERSION,
            progress,
          }).finally(() => progress.stop()); // the bar is gone before anything is printed, also on error
          if (args.json) {
            io.stdout(JSON.stringify(run.report) + '\n');
            return;
          }
          printSplit(run, io);
        },
      )
      .command(
        'audit <model>',
        'attack cuts of a model as an adversary who sees the wire would, and report how well the private input can be reconstructed (report.json, report.html)',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('cuts', { type: 'string', default: 'auto', describe: "'auto' (a spread from shallow to deep), or cuts: after:<node>, or tensors joined with + (comma-separated)" })
            .option('probe', { type: 'string', demandOption: true, describe: 'private inputs to reconstruct: a folder of images (with --preprocess) or .npy files, or a .npy file' })
            .option('aux', { type: 'string', describe: "the attacker's own data for the decoder attack (same forms; disjoint from --probe)" })
            .option('attacks', { type: 'string', default: 'whitebox', describe: `attacks to run, comma-separated: ${ATTACK_NAMES.join(', ')}` })
            .option('budget', { type: 'string', default: 'fast', choices: [...BUDGETS], describe: 'how hard each attack tries' })
            .option('compress', { type: 'string', describe: "the cut's compression, as in split --compress (attacks see the dequantized wire)" })
            .option('defences', { type: 'string', describe: 'defences to measure at every cut, comma-separated: noise=S (S × the calibrated std), dropout=P; the report shows utility against privacy' })
            .option('calib', { type: 'string', describe: 'calibration data for --compress and --defences (default: the probes)' })
            .option('preprocess', { type: 'string', describe: 'how images become inputs (as for split); also sets the valid input range' })
            .option('shape', SHAPE_OPTION)
            .option('max-probes', { type: 'number', describe: 'probes used at most (default: 4 fast, 8 standard, 16 thorough)' })
            .option('high', { type: 'number', default: 0.5, describe: 'SSIM at or above which a cut is high risk' })
            .option('medium', { type: 'number', default: 0.3, describe: 'SSIM at or above which a cut is medium risk' })
            .option('fail-on', { type: 'string', choices: ['high', 'medium'], describe: 'exit 3 when a cut reaches this risk level (a CI gate)' })
            .option('seed', { type: 'number', default: 1 })
            .option('threads', { type: 'number', default: 0, describe: 'onnxruntime threads (0: its default)' })
            .option('cache-dir', { type: 'string', describe: 'folder of cached results (default ~/.cache/splitc/audit)' })
            .option('cache', { type: 'boolean', default: true, describe: 'read and write cached results (--no-cache: neither)' })
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'folder for report.json and report.html' })
            .option('json', { type: 'boolean', default: false, describe: 'print report.json to stdout instead of the table' }),
        async (args) => {
          if (!(args.high > args.medium && args.medium > 0 && args.high <= 1)) {
            throw new SplitcError('E_BAD_ARGUMENT', `risk thresholds must satisfy 0 < --medium < --high ≤ 1, got ${args.medium} and ${args.high}`);
          }
          const progress = createProgressFor(args.json);
          const run = await audit({
            model: args.model,
            cuts: args.cuts === 'auto' ? 'auto' : args.cuts.split(',').map((s) => s.trim()).filter(Boolean),
            probe: args.probe,
            ...(args.aux !== undefined ? { aux: args.aux } : {}),
            attacks: args.attacks.split(',').map((s) => s.trim()).filter(Boolean) as AttackName[],
            budget: args.budget as Budget,
            ...(args.compress !== undefined ? { compress: args.compress } : {}),
            ...(args.defences !== undefined ? { defences: args.defences.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
            ...(args.calib !== undefined ? { calib: args.calib } : {}),
            ...(args.preprocess !== undefined ? { preprocess: args.preprocess } : {}),
            shapes: shapesFrom(args.shape),
            ...(args.maxProbes !== undefined ? { maxProbes: args.maxProbes } : {}),
            thresholds: { high: args.high, medium: args.medium },
            seed: args.seed,
            threads: args.threads,
            ...(args.cache ? (args.cacheDir !== undefined ? { cacheDir: args.cacheDir } : {}) : { cacheDir: null }),
            outDir: args.out,
            toolVersion: VERSION,
            progress,
          }).finally(() => progress.stop());
          if (args.json) io.stdout(JSON.stringify(run.report) + '\n');
          else io.stdout(formatAudit(run) + '\n');
          const failOn = args.failOn as 'high' | 'medium' | undefined;
          if (failOn && riskAtLeast(run.report.risk, failOn)) {
            const worst = run.report.cuts.filter((c) => riskAtLeast(c.risk, failOn)).map((c) => `${c.label} (${c.risk}, SSIM ${c.ssim?.toFixed(3)})`);
            const e = new SplitcError('E_RISK', `${worst.length} cut${worst.length > 1 ? 's' : ''} reach${worst.length > 1 ? '' : 'es'} --fail-on ${failOn}: ${worst.join(', ')}`, {
              hint: 'cut deeper, add a defence (noise, dropout) or compress harder, then audit again',
            });
            if (!args.json) io.stderr(e.format() + '\n');
            exitCode = 3;
          }
        },
      )
      .command(
        'grad <model>',
        'write the gradient graph of a loss: the model plus standard-ONNX ops computing grad:<value> outputs',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('wrt', { type: 'string', array: true, demandOption: true, describe: "differentiate with respect to: 'inputs', 'params', or value names (comma-separated, repeatable)" })
            .option('loss', { type: 'string', default: 'sum', describe: "the loss: sum, mse[:out][=target], ce[:out][=labels], l2, tv[:image], bn-prior, feature:<value>[=input], joined with + and weighted with w* (docs/cli.md)" })
            .option('shape', SHAPE_OPTION)
            .option('feed-params', { type: 'boolean', default: false, describe: 'make the chosen weights graph inputs to feed (a training step), instead of differentiating at their stored values' })
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'gradient model to write (.onnx)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' }),
        (args) => {
          const report = runGrad({ model: args.model, wrt: args.wrt.map(String), loss: args.loss, shapes: shapesFrom(args.shape), out: args.out, feedParams: args.feedParams });
          if (args.json) io.stdout(JSON.stringify(report) + '\n');
          else io.stdout(formatGrad(report) + '\n');
        },
      )
      .command(
        'profile <models..>',
        "measure every node's latency on this machine with onnxruntime's profiler and fit a per-op-class latency model; writes a device profile for splitc plan",
        (y) =>
          y
            .positional('models', { type: 'string', array: true, demandOption: true, describe: 'ONNX model files (the regression is fitted over all of them)' })
            .option('backend', { choices: ['node', 'wasm'] as const, default: 'node' as const, describe: 'onnxruntime-node (native) or onnxruntime-web (wasm, as in a browser)' })
            .option('threads', { type: 'number', default: 1, describe: 'intra-op threads' })
            .option('warmup', { type: 'number', describe: 'runs before measuring' })
            .option('repeats', { type: 'number', describe: 'measured runs (medians are taken)' })
            .option('shape', { ...SHAPE_OPTION, describe: 'fix input dims: --shape x=1x3x48x192 for every model, or --shape det.onnx@x=1x3x160x160 for one (repeatable)' })
            .option('name', { type: 'string', describe: 'profile name (default this-machine-<backend>-<threads>t)' })
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'device profile JSON to write' })
            .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' }),
        async (args) => {
          const { runProfile } = await import('./profile.js');
          const models = (args.models ?? []).map(String);
          const specs = args.shape === undefined ? [] : (Array.isArray(args.shape) ? args.shape : [args.shape]).map(String);
          const global = specs.filter((s) => !s.includes('@'));
          const perModel = models.map((m) => {
            const own = specs.filter((s) => s.includes('@') && (s.split('@')[0] === m || s.split('@')[0] === m.split('/').pop()));
            return own.length ? (shapesFrom(own.map((s) => s.slice(s.indexOf('@') + 1))) as Record<string, number[]>) : undefined;
          });
          await runProfile({
            models,
            backend: args.backend,
            threads: args.threads,
            ...(args.warmup !== undefined ? { warmup: args.warmup } : {}),
            ...(args.repeats !== undefined ? { repeats: args.repeats } : {}),
            inputShapes: shapesFrom(global) as Record<string, number[]>,
            modelInputShapes: perModel,
            ...(args.name !== undefined ? { name: args.name } : {}),
            output: args.out,
            json: args.json,
            write: io.stdout,
            progress: createProgressFor(args.json),
          });
        },
      )
      .command(
        'plan <model>',
        'choose where to cut: predict edge, transfer and cloud latency for every cut (exact min-cut search), write plan.json and plan.html',
        (y) =>
          y
            .positional('model', { type: 'string', demandOption: true, describe: 'ONNX model file' })
            .option('edge', { type: 'string', describe: 'edge device: a preset (phone-wasm, low-power-board, laptop-cpu, cloud-cpu) or a profile JSON (splitc profile)' })
            .option('link', { type: 'string', array: true, describe: 'edge → cloud link: a preset (3g, lte, 5g, wifi, ethernet, loopback) or a link JSON; one per hop with --via' })
            .option('via', { type: 'string', array: true, describe: 'intermediate devices of a multi-tier chain, in order (edge → via … → cloud)' })
            .option('input-device', { type: 'string', array: true, describe: 'multi-input models: the device and link of each input, input=device@link (repeatable)' })
            .option('cloud', { type: 'string', default: 'cloud-cpu', describe: 'cloud device: a preset or a profile JSON' })
            .option('objective', { choices: ['latency', 'energy'] as const, default: 'latency' as const, describe: 'minimize end-to-end latency or the edge device\'s energy' })
            .option('compress-options', { type: 'string', describe: "compressions to consider at the cut, comma-separated: e.g. 'fp16,int8,pca=16+int8' ('none' is always considered)" })
            .option('max-edge-memory', { type: 'string', describe: "edge memory limit for weights + peak activations, e.g. 256MB (default: the edge profile's)" })
            .option('max-bytes', { type: 'string', describe: 'most bytes sent per sample, e.g. 50kB' })
            .option('min-agreement', { type: 'number', describe: 'least top-1 agreement (0..1) of a lossy compression with the original, measured on --calib' })
            .option('calib', { type: 'string', describe: 'calibration data for --min-agreement (images folder, .npy, random[:N])' })
            .option('preprocess', { type: 'string', describe: 'how calibration images become inputs (see splitc split --help)' })
            .option('risk-table', { type: 'string', describe: 'inversion risk per cut: {"cuts":[{"tensors":[...],"risk":0.3}]}' })
            .option('max-risk', { type: 'string', describe: "largest inversion risk allowed: 'low' or 'medium' (measured: a fast white-box audit of the candidates the choice needs, on --probe or --calib), or a number compared with --risk-table" })
            .option('probe', { type: 'string', describe: 'real inputs the --max-risk audit reconstructs (default: --calib)' })
            .option('train', { type: 'string', describe: 'inputs to train learned compression options on when --min-agreement measures them: the formats --calib takes; default: the calibration set' })
            .option('epochs', { type: 'number', describe: 'training epochs of learned options (default 10; build trains the chosen one alike)' })
            .option('seed', { type: 'number', describe: 'seed of the learned options\' training order (default 1)' })
            .option('shape', SHAPE_OPTION)
            .option('cache', LEARNED_CACHE_OPTION)
            .option('out', { alias: 'o', type: 'string', default: 'plan.json', describe: 'plan file to write (plan.html is written next to it)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the plan as JSON instead of the table' }),
        async (args) => {
          const { runPlan, formatPlan, runChainPlan, formatChainPlan, runMultiInputPlan, formatMultiInputPlan } = await import('./plan.js');
          const links = (args.link ?? []).map(String);
          const emit = (plan: unknown, text: string, files: string[]): void => {
            io.stdout(args.json ? JSON.stringify(plan) + '\n' : `${text}\nwrote ${files.join(', ')}\n`);
          };
          if (args.inputDevice !== undefined) {
            const { plan, files } = runMultiInputPlan({
              model: args.model,
              inputDevices: args.inputDevice.map(String),
              cloud: args.cloud,
              objective: args.objective,
              ...(args.compressOptions !== undefined ? { compressOptions: args.compressOptions } : {}),
              shapes: shapesFrom(args.shape),
              out: args.out,
            });
            emit(plan, formatMultiInputPlan(plan), files);
            return;
          }
          if (args.edge === undefined || links.length === 0) {
            throw new SplitcError('E_BAD_ARGUMENT', 'say where the model runs: --edge <device> --link <link>', { hint: 'e.g. --edge phone-wasm --link lte (presets in docs/profiles.md), or --input-device x=phone-wasm@lte per input' });
          }
          if (args.via !== undefined) {
            const { plan, files } = runChainPlan({
              model: args.model,
              devices: [args.edge, ...args.via.map(String), args.cloud],
              links,
              ...(args.compressOptions !== undefined ? { compressOptions: args.compressOptions } : {}),
              shapes: shapesFrom(args.shape),
              out: args.out,
            });
            emit(plan, formatChainPlan(plan), files);
            return;
          }
          if (links.length !== 1) throw new SplitcError('E_BAD_ARGUMENT', `${links.length} links for one hop`, { hint: 'give one --link, or add --via devices for a multi-tier chain' });
          const { plan, files } = await runPlan({
            model: args.model,
            edge: args.edge,
            link: links[0]!,
            cloud: args.cloud,
            objective: args.objective,
            ...(args.compressOptions !== undefined ? { compressOptions: args.compressOptions } : {}),
            ...(args.maxEdgeMemory !== undefined ? { maxEdgeMemory: args.maxEdgeMemory } : {}),
            ...(args.maxBytes !== undefined ? { maxBytes: args.maxBytes } : {}),
            ...(args.minAgreement !== undefined ? { minAgreement: args.minAgreement } : {}),
            ...(args.calib !== undefined ? { calib: args.calib } : {}),
            ...(args.preprocess !== undefined ? { preprocess: args.preprocess } : {}),
            ...(args.riskTable !== undefined ? { riskTable: args.riskTable } : {}),
            ...(args.maxRisk !== undefined ? { maxRisk: parseMaxRisk(args.maxRisk) } : {}),
            ...(args.probe !== undefined ? { probe: args.probe } : {}),
            ...(args.train !== undefined || args.epochs !== undefined || args.seed !== undefined
              ? { training: { ...(args.train !== undefined ? { train: args.train } : {}), ...(args.epochs !== undefined ? { epochs: args.epochs } : {}), ...(args.seed !== undefined ? { seed: args.seed } : {}) } }
              : {}),
            ...(args.cache ? { learnedCacheDir: defaultLearnedCacheDir() } : {}),
            shapes: shapesFrom(args.shape),
            out: args.out,
            toolVersion: VERSION,
            renderHtml: renderPlanHtml,
            progress: createProgressFor(args.json),
          });
          if (args.json) {
            io.stdout(JSON.stringify(plan) + '\n');
            return;
          }
          io.stdout(formatPlan(plan) + '\n' + `wrote ${files.join(', ')}\n`);
        },
      )
      .command(
        'build <plan>',
        'write the bundles (as splitc split does) for the cut a plan chose',
        (y) =>
          y
            .positional('plan', { type: 'string', demandOption: true, describe: 'plan.json from splitc plan' })
            .option('model', { type: 'string', describe: 'the model file, when it is no longer where the plan says' })
            .option('calib', { type: 'string', describe: 'calibration data for the plan\'s compression (images folder, .npy, random[:N])' })
            .option('preprocess', { type: 'string', describe: 'how calibration images become inputs' })
            .option('model-name', { type: 'string', describe: "name the cloud model is served under (default: the model file's name without .onnx)" })
            .option('audit', { type: 'boolean', default: true, describe: "run a fast white-box inversion audit of the cut on real inputs and put report/ into the bundle (--no-audit: don't)" })
            .option('probe', { type: 'string', describe: 'real inputs for the audit (default: the calibration inputs when they are real)' })
            .option('cache', LEARNED_CACHE_OPTION)
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'bundle folder to create' })
            .option('json', { type: 'boolean', default: false, describe: 'print the summary (with the certified and measured fidelity) as JSON' }),
        async (args) => {
          const { runBuild, formatBuildFidelity } = await import('./plan.js');
          const progress = createProgressFor(args.json);
          const run = await runBuild({
            plan: args.plan,
            outDir: args.out,
            toolVersion: VERSION,
            ...(args.model !== undefined ? { model: args.model } : {}),
            ...(args.calib !== undefined ? { calib: args.calib } : {}),
            ...(args.preprocess !== undefined ? { preprocess: args.preprocess } : {}),
            ...(args.modelName !== undefined ? { modelName: args.modelName } : {}),
            audit: args.audit,
            ...(args.probe !== undefined ? { probe: args.probe } : {}),
            ...(args.cache ? { learnedCacheDir: defaultLearnedCacheDir() } : {}),
            progress,
          }).finally(() => progress.stop());
          if (args.json) {
            io.stdout(JSON.stringify({ ...run.report, certifiedFidelity: run.certified, measuredFidelity: run.measured }) + '\n');
            return;
          }
          printSplit(run, io);
          io.stdout(formatBuildFidelity(run) + '\n');
        },
      )
      .command(
        'print <model>',
        'print the graph in splitc\'s deterministic text form',
        (y) => y.positional('model', { type: 'string', demandOption: true }),
        (args) => {
          io.stdout(printModel(loadModel(args.model)));
        },
      )
      .command(
        'serve <dir>',
        'serve every *.onnx model in a folder over the KServe v2 protocol (docs/serving.md); SIGTERM closes gracefully',
        (y) =>
          y
            .positional('dir', { type: 'string', demandOption: true, describe: 'folder of ONNX models (names from manifest.json / model.json, else file stems)' })
            .option('port', { type: 'number', default: 8000 })
            .option('host', { type: 'string', default: '127.0.0.1' })
            .option('token-file', { type: 'string', describe: 'file holding the bearer token (default: env SPLITC_TOKEN)' })
            .option('auth', { type: 'boolean', default: true, describe: 'require the bearer token (--no-auth to serve without one)' })
            .option('max-body-bytes', { type: 'number', describe: 'largest request body, on the wire and decompressed (default 64 MiB)' })
            .option('max-json-bytes', { type: 'number', describe: 'largest JSON body or binary header, decompressed (default 8 MiB): JSON parsing blocks the event loop' })
            .option('max-rows', { type: 'number', describe: 'most rows (first dimension) per request to a batchable model (default 64)' })
            .option('max-buffered-bytes', { type: 'number', describe: 'request bodies held in memory across requests; more get 503 (default 4 × max-body-bytes)' })
            .option('min-upload-rate', { type: 'number', describe: 'bytes/s a body must average after its first 5 s, else 408 (default 16384; 0: off)' })
            .option('request-timeout-ms', { type: 'number', describe: 'the whole request must arrive within this time, else 408 (default 60000)' })
            .option('max-queue', { type: 'number', describe: 'infer requests whose body has arrived held at once (waiting or running); more get 503 (default 64)' })
            .option('max-batch-size', { type: 'number', describe: 'dynamic batching: most requests per session.run (default 1 = off)' })
            .option('max-queue-delay-ms', { type: 'number', describe: 'dynamic batching: longest wait for a batch to fill (default 0)' })
            .option('shutdown-grace-ms', { type: 'number', describe: 'on SIGTERM: how long requests still arriving may take before their connections are cut (default 10000)' })
            .option('cors-origin', { type: 'string', describe: "answer CORS preflights for this origin ('*' for any)" })
            .option('intra-op-threads', { type: 'number', describe: "onnxruntime threads per session (default: half the cores, at least 1; 0: onnxruntime's own default)" })
            .option('spin', { type: 'boolean', default: false, describe: "let onnxruntime's threads spin between runs (lower latency on a dedicated host)" })
            .option('session-on-main-thread', { type: 'boolean', default: false, describe: 'run sessions on the event loop instead of a worker thread per model' }),
        async (args) => {
          // Loaded on demand: onnxruntime-node is only needed by this command.
          const { relaunchForMemory, serveDirectory } = await import('../runtime/serve-main.js');
          const relaunched = relaunchForMemory();
          const code = relaunched ? await relaunched : -1;
          if (code !== -1) {
            exitCode = code; // the relaunched server has ended
            return;
          }
          await serveDirectory({
            dir: args.dir,
            port: args.port,
            host: args.host,
            auth: args.auth,
            ...(args.tokenFile !== undefined ? { tokenFile: args.tokenFile } : {}),
            ...(args.maxBodyBytes !== undefined ? { maxBodyBytes: args.maxBodyBytes } : {}),
            ...(args.maxJsonBytes !== undefined ? { maxJsonBytes: args.maxJsonBytes } : {}),
            ...(args.maxRows !== undefined ? { maxRows: args.maxRows } : {}),
            ...(args.maxBufferedBytes !== undefined ? { maxBufferedBytes: args.maxBufferedBytes } : {}),
            ...(args.minUploadRate !== undefined ? { minUploadBytesPerSecond: args.minUploadRate } : {}),
            ...(args.requestTimeoutMs !== undefined ? { requestTimeoutMs: args.requestTimeoutMs } : {}),
            ...(args.maxQueue !== undefined ? { maxQueue: args.maxQueue } : {}),
            ...(args.maxBatchSize !== undefined ? { maxBatchSize: args.maxBatchSize } : {}),
            ...(args.maxQueueDelayMs !== undefined ? { maxQueueDelayMs: args.maxQueueDelayMs } : {}),
            ...(args.shutdownGraceMs !== undefined ? { shutdownGraceMs: args.shutdownGraceMs } : {}),
            ...(args.corsOrigin !== undefined ? { corsOrigin: args.corsOrigin } : {}),
            ...(args.intraOpThreads !== undefined ? { intraOpThreads: args.intraOpThreads } : {}),
            spin: args.spin,
            sessionOnMainThread: args.sessionOnMainThread,
          });
        },
      )
      .command(fedCommand({ stdout: (t) => io.stdout(t), stderr: (t) => io.stderr(t), progress: createProgressFor }))
      .fail((msg, err) => {
        if (err) throw err;
        throw new SplitcError('E_BAD_ARGUMENT', msg, { hint: 'run `splitc --help` for usage' });
      })
      // --help and --version come back as text here, instead of being printed and exiting
      .parseAsync(argv, {}, (_err, _args, output) => {
        if (output) io.stdout(output + '\n');
      });
  } catch (e) {
    return fail(e, json, io);
  }
  return exitCode;
}
