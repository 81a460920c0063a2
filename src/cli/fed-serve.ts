// `splitc fed serve`: a federated coordinator over HTTP until its last round closes, then the
// final model, history.json and report.html; SIGTERM stops it with the last round's checkpoint kept.

import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { numArg } from './fed-args.js';
import { SplitcError } from '../ir/errors.js';
import { modelToBytes } from '../ir/serde/io.js';
import { writeFileAtomic } from '../ir/temp-files.js';
import { type FedCliContext, widthsOf } from './fed.js';
import { renderFedServeHtml } from './fed-html.js';

export function serveCommand(ctx: FedCliContext): CommandModule {
  return {
    command: 'serve [model]',
    describe: 'run a federated coordinator over HTTP (FedAvg, FedProx, SphereFed with its calibration phase) until the last round, then write model.onnx, history.json and report.html; SIGTERM stops it, its checkpoint kept',
    builder: (y: Argv) =>
      y
        .positional('model', { type: 'string', describe: 'ONNX model to train (default: --arch resnet8)' })
        .option('arch', { choices: ['resnet8'] as const, describe: 'built-in model: resnet8 for 28×28×1, 10 classes' })
        .option('widths', { type: 'string', describe: "the built-in ResNet's channels per stage (default 16,32,64)" })
        .option('algo', { choices: ['fedavg', 'fedprox', 'spherefed'] as const, default: 'fedavg' as const, describe: 'federated algorithm' })
        .option('base', { choices: ['fedavg', 'fedprox'] as const, describe: "SphereFed's aggregation (default fedavg)" })
        .option('calibrate', { type: 'boolean', describe: 'SphereFed: a calibration phase after the last round (clients upload their feature statistics, the head is solved in closed form)' })
        .option('lambda', { type: 'number', describe: "the calibration's ridge term λ (default 1e-3)" })
        .option('secure', { type: 'boolean', describe: 'clients mask their calibration statistics pairwise (secure aggregation): the coordinator sees only the sum' })
        .option('mu', { type: 'number', describe: "FedProx's proximal term μ (default 0.01)" })
        .option('rounds', { type: 'number', default: 10 })
        .option('min-clients', { type: 'number', default: 2, describe: 'a round opens once this many clients are registered, and closes at its deadline only with this many updates' })
        .option('clients-per-round', { type: 'number', describe: 'clients drawn per round among those registered (default all)' })
        .option('deadline-s', { type: 'number', describe: 'a round closes this long after it opened if --min-clients updates are in; later updates are dropped (default 600)' })
        .option('local-epochs', { type: 'number', default: 1, describe: 'local epochs per round (E)' })
        .option('batch', { type: 'number', default: 32, describe: "the clients' batch size" })
        .option('lr', { type: 'number', default: 0.05, describe: 'SGD learning rate' })
        .option('momentum', { type: 'number', default: 0.9, describe: 'SGD momentum (reset every round)' })
        .option('seed', { type: 'number', default: 0, describe: "seeds the built-in model, the choice of clients and the clients' batch orders" })
        .option('eval-data', { choices: ['fashion-mnist', 'mnist'] as const, describe: "a test set the coordinator holds: each round's model and the final one are evaluated on it (history.json)" })
        .option('data-dir', { type: 'string', describe: '--eval-data from this folder (IDX files; default: where Debian installs it)' })
        .option('test-limit', { type: 'number', describe: 'evaluate on the first N test images (default all)' })
        .option('checkpoint', { type: 'string', describe: 'folder for the checkpoint written after every round; a run resumes when it holds one' })
        .option('token-file', { type: 'string', describe: 'file holding the bearer token clients send (default: env SPLITC_TOKEN)' })
        .option('port', { type: 'number', default: 8000, describe: 'port (0: any free one)' })
        .option('host', { type: 'string', default: '127.0.0.1' })
        .option('cors-origin', { type: 'string', describe: 'answer CORS for pages of this origin (browser clients on another origin)' })
        .option('linger-s', { type: 'number', default: 2, describe: 'once done, keep answering this long so polling clients learn it' })
        .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write model.onnx, history.json and report.html to' })
        .option('json', { type: 'boolean', default: false, describe: 'no progress; JSON lines: {"listening": url} at start, a summary at the end' }),
    handler: async (argv) => {
      const args = argv as unknown as Record<string, unknown> & { out: string; json: boolean };
      // Loaded on demand: onnxruntime-node and the server are only needed here.
      const { readBearerToken, runFedServe } = await import('../pipeline/fed-serve.js');
      const num = (k: string): number | undefined => numArg(args, k);
      if (!(num('lingerS')! >= 0)) throw new SplitcError('E_BAD_ARGUMENT', `--linger-s must be ≥ 0, got ${String(args.lingerS)}`);
      if (args.evalData === undefined && (args.dataDir !== undefined || args.testLimit !== undefined)) {
        throw new SplitcError('E_BAD_ARGUMENT', '--data-dir and --test-limit choose the evaluation set: they need --eval-data', { hint: 'e.g. --eval-data fashion-mnist --test-limit 2000' });
      }
      const token = readBearerToken(args.tokenFile === undefined ? undefined : String(args.tokenFile));
      const files = { model: path.join(args.out, 'model.onnx'), history: path.join(args.out, 'history.json'), report: path.join(args.out, 'report.html') };
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        ctx.stderr(`${sig}: stopping the coordinator\n`);
        stop.abort();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      const progress = ctx.progress(args.json);
      let result: Awaited<ReturnType<typeof runFedServe>>;
      try {
        result = await runFedServe({
          ...(args.model !== undefined ? { modelFile: String(args.model) } : {}),
          ...(args.arch !== undefined ? { arch: args.arch as 'resnet8' } : {}),
          ...(args.widths !== undefined ? { widths: widthsOf(String(args.widths))! } : {}),
          algorithm: args.algo as 'fedavg' | 'fedprox' | 'spherefed',
          ...(args.base !== undefined ? { base: args.base as 'fedavg' | 'fedprox' } : {}),
          ...(args.calibrate !== undefined ? { calibrate: Boolean(args.calibrate) } : {}),
          ...(args.lambda !== undefined ? { lambda: num('lambda')! } : {}),
          ...(args.secure !== undefined ? { secure: Boolean(args.secure) } : {}),
          ...(args.mu !== undefined ? { mu: num('mu')! } : {}),
          rounds: num('rounds')!,
          minClients: num('minClients')!,
          ...(args.clientsPerRound !== undefined ? { clientsPerRound: num('clientsPerRound')! } : {}),
          ...(args.deadlineS !== undefined ? { deadlineS: num('deadlineS')! } : {}),
          localEpochs: num('localEpochs')!,
          batch: num('batch')!,
          lr: num('lr')!,
          momentum: num('momentum')!,
          seed: num('seed')!,
          ...(args.checkpoint !== undefined ? { checkpointDir: String(args.checkpoint) } : {}),
          ...(args.evalData !== undefined
            ? { evalData: { data: String(args.evalData), ...(args.dataDir !== undefined ? { dataDir: String(args.dataDir) } : {}), ...(args.testLimit !== undefined ? { testLimit: num('testLimit')! } : {}) } }
            : {}),
          token,
          port: num('port')!,
          host: String(args.host),
          ...(args.corsOrigin !== undefined ? { corsOrigin: String(args.corsOrigin) } : {}),
          lingerMs: num('lingerS')! * 1000,
          signal: stop.signal,
          // Each file through a temporary and a rename: a reader never sees half a file.
          onDone: (model, history) => {
            writeFileAtomic(files.model, modelToBytes(model));
            writeFileAtomic(files.history, JSON.stringify(history, null, 2) + '\n');
            writeFileAtomic(files.report, renderFedServeHtml(history));
          },
          onListening: (address, resumed) => {
            if (args.json) ctx.stdout(JSON.stringify({ listening: address.url, resumedRounds: resumed }) + '\n');
            else ctx.stdout(`splitc fed serve: coordinator at ${address.url}/v2/federated/${resumed > 0 ? ` (resumed after round ${resumed})` : ''}; clients join with \`splitc fed join ${address.url} …\`\n`);
          },
          onRound: (r, rounds) => {
            const loss = Number.isFinite(r.loss) ? `, loss ${r.loss.toFixed(4)}` : '';
            const accuracy = r.testAccuracy !== null ? `, test accuracy ${(r.testAccuracy * 100).toFixed(1)} %` : '';
            progress.log(`round ${r.round}/${rounds}: ${r.clients.length} clients, ${r.samples} samples${loss}${accuracy}${r.stragglers.length ? `, ${r.stragglers.length} dropped` : ''}, ${r.seconds?.toFixed(1) ?? '?'} s`);
            progress.task('federated rounds')({ done: r.round, total: rounds });
          },
        });
      } finally {
        progress.stop();
        process.removeListener('SIGTERM', onSignal);
        process.removeListener('SIGINT', onSignal);
      }
      if (result.state === 'stopped') {
        const kept = args.checkpoint !== undefined ? `; \`--checkpoint ${String(args.checkpoint)}\` resumes it` : ' (no --checkpoint: nothing was kept)';
        if (args.json) ctx.stdout(JSON.stringify({ state: 'stopped', completed: result.completed, checkpoint: args.checkpoint ?? null }) + '\n');
        else ctx.stdout(`stopped after ${result.completed} of ${result.history.config.rounds} rounds${kept}\n`);
        return;
      }
      const { history } = result;
      if (args.json) {
        const clients = [...new Set(history.rounds.flatMap((r) => r.clients))].sort();
        ctx.stdout(JSON.stringify({ state: 'done', files, algorithm: history.config.algorithm, rounds: history.rounds.length, clients, ...(history.calibration ? { calibration: history.calibration } : {}), finalTestAccuracy: history.finalTestAccuracy }) + '\n');
      }
      else {
        const cal = history.calibration;
        const calibrated = cal ? `, calibrated on ${cal.clients.length} clients' statistics (${cal.attempts} attempt${cal.attempts === 1 ? '' : 's'})` : '';
        const accuracy = history.finalTestAccuracy !== null ? `; test accuracy ${(history.finalTestAccuracy * 100).toFixed(1)} % on ${history.config.evaluation!.testSamples} ${history.config.evaluation!.data} images` : '';
        ctx.stdout(`${history.config.algorithm}: ${history.rounds.length} rounds done${calibrated}${accuracy}\nwrote ${files.model}, ${files.history}, ${files.report}\n`);
      }
    },
  };
}
