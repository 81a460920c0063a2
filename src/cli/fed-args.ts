// The parsed yargs flags of the `splitc fed` subcommands turned into the pipeline's options:
// numbers read once, and the data-set and partition flags simulate, join and calibrate share.

/** A subcommand's parsed flags (yargs camel-cases them: trainLimit for --train-limit). */
export type FedArgs = Record<string, unknown>;

/** A number flag's value; undefined when the flag was not given. */
export function numArg(args: FedArgs, key: string): number | undefined {
  return args[key] === undefined ? undefined : Number(args[key]);
}

/** --data, --data-dir, --train-limit, --test-limit, --clients, --alpha and --iid; flags not given are left out. */
export function dataArgs(args: FedArgs): { data: string; dataDir?: string; trainLimit?: number; testLimit?: number; clients: number; alpha?: number; iid?: boolean } {
  return {
    data: String(args.data),
    ...(args.dataDir !== undefined ? { dataDir: String(args.dataDir) } : {}),
    ...(args.trainLimit !== undefined ? { trainLimit: numArg(args, 'trainLimit')! } : {}),
    ...(args.testLimit !== undefined ? { testLimit: numArg(args, 'testLimit')! } : {}),
    clients: numArg(args, 'clients')!,
    ...(args.alpha !== undefined ? { alpha: numArg(args, 'alpha')! } : {}),
    ...(args.iid !== undefined ? { iid: Boolean(args.iid) } : {}),
  };
}
