// The splitc command line. SplitcErrors print one line (plus a hint) and exit 2;
// anything else is an internal bug: its stack is printed and the exit code is 1.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SplitcError } from '../ir/errors.js';
import type { Dim } from '../ir/graph.js';
import { loadModel } from '../ir/serde/io.js';
import { printModel } from '../ir/printer.js';
import { parseShapeSpec } from '../passes/shape/index.js';
import { convertModel } from './convert.js';
import { bytes } from './format.js';
import { formatInspect, inspectModel } from './inspect.js';
import { formatSplit, runSplit } from './split.js';
import { createCompressStep } from './compress-step.js';
import { formatFidelity } from '../search/fidelity.js';

export const VERSION = '0.1.0';

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

function fail(e: unknown, json: boolean): never {
  if (e instanceof SplitcError) {
    if (json) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n');
    else process.stderr.write(e.format() + '\n');
    process.exit(2);
  }
  process.stderr.write(`internal error (a bug in splitc, please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  try {
    await yargs(argv)
      .scriptName('splitc')
      .version(VERSION)
      .strict()
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
            process.stdout.write(JSON.stringify(report) + '\n');
            return;
          }
          for (const w of report.warnings) process.stderr.write(`warning ${w.code}: ${w.message}${w.location ? ` (at ${w.location})` : ''}\n`);
          process.stdout.write(formatInspect(report, { nodes: args.nodes, constants: args.constants }) + '\n');
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
          if (args.json) process.stdout.write(JSON.stringify({ output: args.output, ...r }) + '\n');
          else {
            process.stdout.write(
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
            .option('model-name', { type: 'string', describe: 'name the cloud model is served under (default: model)' })
            .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'bundle folder to create (replaced atomically if it is a splitc bundle)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON (schema in docs/cli.md)' }),
        async (args) => {
          const cut = (args.cut ?? []).flatMap((c) => String(c).split(',')).map((c) => c.trim()).filter(Boolean);
          const compress = createCompressStep({ calib: args.calib, preprocess: args.preprocess });
          const { report } = await runSplit({
            model: args.model,
            ...(args.cut !== undefined ? { cut } : {}),
            ...(args.cutAfter !== undefined ? { cutAfter: args.cutAfter } : {}),
            shapes: shapesFrom(args.shape),
            ...(args.compress !== undefined ? { compress: args.compress } : {}),
            ...(args.calib !== undefined ? { calib: args.calib } : {}),
            ...(args.modelName !== undefined ? { modelName: args.modelName } : {}),
            outDir: args.out,
            toolVersion: VERSION,
          }, { compress: compress.step });
          if (args.json) {
            process.stdout.write(JSON.stringify(report) + '\n');
            return;
          }
          for (const w of report.warnings) process.stderr.write(`warning ${w.code}: ${w.message}${w.location ? ` (at ${w.location})` : ''}\n`);
          process.stdout.write(formatSplit(report) + '\n');
          const fidelity = compress.fidelity();
          if (fidelity) process.stdout.write(formatFidelity(fidelity) + '\n');
        },
      )
      .command(
        'print <model>',
        'print the graph in splitc\'s deterministic text form',
        (y) => y.positional('model', { type: 'string', demandOption: true }),
        (args) => {
          process.stdout.write(printModel(loadModel(args.model)));
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
            .option('max-queue', { type: 'number', describe: 'most infer requests held at once; more get 503 (default 64)' })
            .option('max-batch-size', { type: 'number', describe: 'dynamic batching: most requests per session.run (default 1 = off)' })
            .option('max-queue-delay-ms', { type: 'number', describe: 'dynamic batching: longest wait for a batch to fill (default 0)' })
            .option('cors-origin', { type: 'string', describe: "answer CORS preflights for this origin ('*' for any)" })
            .option('intra-op-threads', { type: 'number', describe: 'onnxruntime threads per session (default: one per core)' })
            .option('spin', { type: 'boolean', default: false, describe: "let onnxruntime's threads spin between runs (lower latency on a dedicated host)" })
            .option('session-on-main-thread', { type: 'boolean', default: false, describe: 'run sessions on the event loop instead of a worker thread per model' }),
        async (args) => {
          // Loaded on demand: onnxruntime-node is only needed by this command.
          const { serveDirectory } = await import('../runtime/serve-main.js');
          await serveDirectory({
            dir: args.dir,
            port: args.port,
            host: args.host,
            auth: args.auth,
            ...(args.tokenFile !== undefined ? { tokenFile: args.tokenFile } : {}),
            ...(args.maxBodyBytes !== undefined ? { maxBodyBytes: args.maxBodyBytes } : {}),
            ...(args.maxQueue !== undefined ? { maxQueue: args.maxQueue } : {}),
            ...(args.maxBatchSize !== undefined ? { maxBatchSize: args.maxBatchSize } : {}),
            ...(args.maxQueueDelayMs !== undefined ? { maxQueueDelayMs: args.maxQueueDelayMs } : {}),
            ...(args.corsOrigin !== undefined ? { corsOrigin: args.corsOrigin } : {}),
            ...(args.intraOpThreads !== undefined ? { intraOpThreads: args.intraOpThreads } : {}),
            spin: args.spin,
            sessionOnMainThread: args.sessionOnMainThread,
          });
        },
      )
      .fail((msg, err) => {
        if (err) throw err;
        throw new SplitcError('E_BAD_ARGUMENT', msg, { hint: 'run `splitc --help` for usage' });
      })
      .parseAsync();
  } catch (e) {
    fail(e, json);
  }
}

await main(hideBin(process.argv));
